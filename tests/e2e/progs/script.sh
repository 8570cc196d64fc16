#!/bin/sh
# A script: the interpreter is signed, the script need not be (the
# documented limitation).
echo "script ran"
