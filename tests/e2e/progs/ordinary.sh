#!/bin/sh
# Ordinary commands of a small appliance, all from the signed userland.
# Stops at the first failure.
set -e
cd /tmp
uname -a
id
cat /proc/version >/dev/null
ls / >/dev/null
/usr/bin/ls -la /opt/t >/dev/null
mkdir -p work/a/b
echo "alpha beta gamma" >work/a/f
cp work/a/f work/a/b/g
mv work/a/b/g work/a/b/h
ln -s ../f work/a/b/link
# shellcheck disable=SC2002  # cat through a symlink is the point
cat work/a/b/link | grep -q beta
echo "3 1 2" | tr ' ' '\n' | sort -n | uniq | wc -l | grep -q 3
sed -e 's/beta/BETA/' work/a/f | grep -q BETA
awk '{ print $2 }' work/a/f | grep -q beta
seq 1 100 | xargs echo | cut -d' ' -f100 | grep -q 100
# shellcheck disable=SC2003  # the expr applet is what is exercised
expr 6 \* 7 | grep -q 42
find work -type f | wc -l | grep -q 2
tar -cf work.tar work
tar -tf work.tar | grep -q work/a/f
gzip -c work.tar >work.tar.gz
gunzip -c work.tar.gz | cmp - work.tar
sha256sum work.tar >sums
sha256sum -c sums >/dev/null
md5sum work/a/f >/dev/null
dd if=/dev/zero of=zero bs=1k count=64 2>/dev/null
stat -c %s zero | grep -q 65536
head -c 10 zero | od -An -tx1 >/dev/null
ps >/dev/null
mount >/dev/null
df >/dev/null
date >/dev/null
hostname >/dev/null
rm -rf work work.tar work.tar.gz sums zero
echo "ordinary: all commands ok"
