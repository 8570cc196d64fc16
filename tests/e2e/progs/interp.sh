#!/opt/t/bad/hello-unsigned
# A script whose #! interpreter is not signed.
