#!/bin/bash
# The table in formats/format.h says, per format, which operations of
# struct fw_format it provides: check it against each format's struct and
# its rows against the order of registry.c's list.
# Usage: format-table.sh SRCDIR
set -eu
exec perl -e '
use strict; use warnings;
my $src = shift;
sub slurp { local $/; open(my $f, "<", shift) or die "$!"; my $s = <$f>; $s }
my $h = slurp("$src/formats/format.h");
my ($head, @rows);
for (split /\n/, $h) {
	if (/^ \*\s+format\s+file\s+(.*\S)\s*$/) { $head = [split " ", $1]; next }
	push @rows, [split " ", $1] if $head && /^ \*\s+(\w+\s+\w+\.c(?:\s+[x-])+)\s*$/;
}
die "no table in format.h\n" unless $head && @rows;
my %member = (out => [qw(out_begin out_put out_commit out_abort)],
	      append => ["out_put_append"], setx => ["out_xattr"]);
my ($fail, %seen) = (0);
for my $r (@rows) {
	my ($name, $file, @mark) = @$r;
	my $c = slurp("$src/formats/$file");
	my ($init) = grep { /\.name\s*=\s*"\Q$name\E"/ }
		$c =~ /const struct fw_format \w+ = \{(.*?)\n\};/sg;
	unless ($init) { print "FAIL: $name: no struct fw_format in $file\n"; $fail = 1; next }
	$seen{$name} = 1;
	for my $i (0 .. $#$head) {
		my $op = $head->[$i];
		my $has = $op eq "ordered" ? $init =~ /FW_FMT_ORDERED/ :
			  !grep { $init !~ /\.\Q$_\E\s*=/ } @{$member{$op} // [$op]};
		my $says = ($mark[$i] // "") eq "x";
		next if !$has == !$says;
		printf "FAIL: %s: the table says %s %s, %s says %s\n", $name,
		       $op, $says ? "yes" : "no", $file, $has ? "yes" : "no";
		$fail = 1;
	}
}
# registry.c: the builtin list, tar and cpio at its end.
my $reg = slurp("$src/formats/registry.c");
my ($list) = $reg =~ /builtin\[\] = \{(.*?)\n\};/s;
my @order;
for my $var ($list =~ /&(fw_format_\w+)/g) {
	for my $f (glob("$src/formats/*.c")) {
		my ($n) = slurp($f) =~ /const struct fw_format \Q$var\E = \{.*?\.name\s*=\s*"([^"]+)"/s;
		push @order, $n if defined $n;
	}
}
my $want = join(" ", @order);
my $got = join(" ", map { $_->[0] } @rows);
if ($want ne $got) { print "FAIL: rows \"$got\", registry.c \"$want\"\n"; $fail = 1 }
print "ok: ", scalar(@rows), " formats, as registry.c and their structs say\n" unless $fail;
exit $fail;
' "$1"
