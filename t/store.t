# The task table with many tasks, 2 workers: every task is found by its
# run and by its id (through the Uniware style, which takes any task's
# id), also after tasks sharing their buckets or slots were removed, and
# the same from both workers.  A small zone has few buckets and slots,
# so chains of ids hold several tasks, runs share runs of slots, and
# removals happen in their middle.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helpers";

use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

use ExportTest;

sub run_id { sprintf '%08x-0000-4000-8000-%012x', 0x5709e, $_[0] }

my $N = 360;

my $uniware = <<'LOC';
        location = /status/job {
            export_api zone=exports style=uniware;
            export_download_uri /exports/file;
        }
        location = /exports/file {
            export_download zone=exports;
        }
LOC

# 512 KiB: 512 buckets of ids and 1,024 slots of runs for the 360 tasks,
# and no eviction
my $n = start_nginx(port => 2011, zone => '512k',
                    server => ExportTest::default_locations(
                                  '@ROOT@', '', '@ROOT@/store')
                              . $uniware);

for my $i (1 .. $N) {
    make_run($n->{root}, run_id($i), { 'r.json' => qq([{"i": $i}]\n) });
}

my %id;
my $bad = 0;

for my $i (1 .. $N) {
    my $res = http_req('POST', '/v1/system/check-sets/' . run_id($i)
                               . '/exports');
    my $t = json_of($res);

    if ($res->{status} != 202 || !$t || $t->{runId} ne run_id($i)) {
        diag("POST $i: $res->{status} $res->{content}");
        $bad++;
        next;
    }

    $id{$i} = $t->{id};
}

is($bad, 0, "$N exports started");
is(scalar(keys %{{ map { $_ => 1 } values %id }}), $N, 'with distinct ids');

# every export of a tiny run completes

my $deadline = time + 60;
my %left = map { $_ => 1 } 1 .. $N;

while (%left && time < $deadline) {
    for my $i (keys %left) {
        my $t = json_of(http_req('GET', '/v1/system/check-sets/' . run_id($i)
                                        . '/exports'));
        delete $left{$i} if $t && $t->{status} eq 'COMPLETED';
    }
    sleep 0.1 if %left;
}

is(scalar(keys %left), 0, 'every export completed');

sub by_run {
    my ($i) = @_;
    my $res = http_req('GET', '/v1/system/check-sets/' . run_id($i)
                              . '/exports');
    return ($res->{status}, json_of($res));
}

sub by_id {
    my ($id) = @_;
    my $res = HTTP::Tiny->new(timeout => 10)->request('POST',
        "http://127.0.0.1:$n->{port}/status/job",
        { headers => { 'Content-Type' => 'application/json' },
          content => JSON::PP->new->encode({ jobCode => $id }) });
    return ($res->{status}, json_of($res));
}

# every task by its run and by its id, from both workers

sub check_all {
    my ($what, $gone) = @_;
    my (%wrong, %workers);

    for my $i (1 .. $N) {
        my ($s, $t) = by_run($i);

        if ($gone->{$i}) {
            $wrong{"run $i: $s, expected 404"} = 1 if $s != 404;
        } elsif ($s != 200 || $t->{id} ne $id{$i}
                 || $t->{runId} ne run_id($i)
                 || $t->{status} ne 'COMPLETED')
        {
            $wrong{"run $i: $s"} = 1;
        }

        ($s, $t) = by_id($id{$i});

        if ($gone->{$i}) {
            $wrong{"id $i: $s, expected 404"} = 1 if $s != 404;
        } elsif ($s != 200 || !$t->{successful}
                 || $t->{status} ne 'SUCCESSFUL'
                 || index($t->{filePath} // '', $id{$i}) < 0)
        {
            $wrong{"id $i: $s"} = 1;
        }
    }

    is_deeply([sort keys %wrong], [], "$what: every task found as it is");
}

check_all('all tasks', {});

# remove every third task, and a run of neighbours: chains lose their
# heads, middles and tails

my %gone;
for my $i (grep { $_ % 3 == 0 || ($_ > 100 && $_ <= 140) } 1 .. $N) {
    my $s = http_req('DELETE', '/v1/system/check-sets/' . run_id($i)
                               . '/exports')->{status};
    $gone{$i} = 1;
    is($s, 204, "DELETE $i") if $s != 204;
}

ok(scalar(keys %gone) > $N / 3, scalar(keys %gone) . ' tasks deleted');

check_all('after the deletes', \%gone);

# a deleted run starts again: a new task in the same buckets

my $again = (sort { $a <=> $b } keys %gone)[0];
my $res = http_req('POST', '/v1/system/check-sets/' . run_id($again)
                           . '/exports');
is($res->{status}, 202, 'a deleted run is exported again');
my $t2 = json_of($res);
isnt($t2->{id}, $id{$again}, 'as a new task');
my ($s, $t) = by_id($id{$again});
is($s, 404, 'the old id stays unknown');
($s, $t) = by_id($t2->{id});
is($s, 200, 'the new id is found');

# both workers answered

my %pids;
for (1 .. 40) {
    my $r = http_req('GET', '/v1/system/check-sets/' . run_id(1) . '/exports');
    $pids{$r->{headers}{'x-worker'}} = 1 if $r->{headers}{'x-worker'};
}
is(scalar(keys %pids), 2, 'both workers answered');

stop_nginx();

done_testing();
