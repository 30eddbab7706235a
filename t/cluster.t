# Three nodes, one service: three nginx instances with the module (2
# workers each, own prefixes and zones) share one store, one run tree
# and one link key, with a plain nginx in front of them, round-robin or
# "hash $run_id consistent".  Any node answers for any export; a run is
# built once in the whole cluster; a node that dies mid-export is taken
# over by exactly one other; DELETE and export_ttl work from anywhere.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helpers";

use File::Path qw(remove_tree);
use Test::More;
use Time::HiRes qw(sleep time);

use ExportTest qw(make_run check_zip check_task slurp $UUID_RE);
use ClusterTest;

sub run_id { sprintf '%08x-0000-4000-8000-%012x', $_[0], $_[1] }
sub api { '/v1/system/check-sets/' . $_[0] . '/exports' }

my $dir = cluster_dir();
stop_all();
remove_tree($dir);

my %port = (a => 2041, b => 2042, c => 2043, front => 2044, d => 2045);
my ($A, $B, $C) = map { start_node(name => "node-$_", port => $port{$_}) }
                  qw(a b c);

# reports that keep a build busy for a while (with throttle(), seconds):
# hex noise
sub noise {
    my ($lines, $seed) = @_;
    srand($seed);
    return join '', map {
        my $s = join '', map { sprintf '%08x', int rand 2**32 } 1 .. 24;
        qq({"host": "esx-$_", "msg": "$s"}\n)
    } 1 .. $lines;
}

my $small = { 'checks.json' => '[{"host": "esx-1", "status": "PASSED"}, '
                              . '{"host": "esx-2", "status": "FAILED"}]',
              'bad.json' => '{"a": [1,' };

sub zips_of { my @z = glob("$dir/store/export-$_[0]-*.zip"); scalar @z }

sub status_of { json_at(node_req($_[0], 'GET', '/status'))->{zones}{exports} }

sub same_fields {
    my ($got, $want, $what) = @_;
    my @f = qw(status progress startTimestamp endTimestamp id runId size);
    is_deeply({ map { $_ => $got->{$_} } @f }, { map { $_ => $want->{$_} } @f },
              "$what: the same fields as on the node that built it");
    is_deeply($got->{warnings}, $want->{warnings}, "$what: the same warnings");
}

is(status_of($_)->{node}, $_->{name}, "the status page names $_->{name}")
    for $A, $B, $C;

# --- a fourth node dies mid-export and nobody asks about the export:
# the others find it in the store by themselves (checked at the end)

my $D = start_node(name => 'node-d', port => $port{d});
my $r10 = run_id(10, 1);
make_run($dir, $r10, { 'big.ndjson' => noise(150000, 10) });
throttle($D);
my $t10 = json_at(node_req($D, 'POST', api($r10)));
for (1 .. 400) {
    last if -e "$dir/store/export-$r10.beat";
    sleep 0.05;
}
ok(-e "$dir/store/export-$r10.beat", 'D builds an export and beats');
ok(kill_node($D), 'node D is killed; no request names its export');
my $d_dead = time;

# --- POST on A, then status, HEAD, data and links on B and C

my $r1 = run_id(1, 1);
make_run($dir, $r1, $small);
my $res = node_req($A, 'POST', api($r1));
is($res->{status}, 202, 'POST on A');
my $t1 = wait_at($A, api($r1));
is($t1->{status}, 'COMPLETED', 'A built it');
my $zip1 = node_req($A, 'GET', $t1->{downloadUrl})->{content};

for my $n ($B, $C) {
    my $w = $n->{name};
    my $t = json_at(node_req($n, 'GET', api($r1)));
    check_task($t, $r1, "status on $w");
    same_fields($t, $t1, "status on $w");
    like($t->{downloadUrl}, qr/signature=/, "$w signs its own link");
    is(node_req($n, 'HEAD', api($r1))->{status}, 200, "HEAD on $w");

    $res = node_req($n, 'GET', api($r1) . '/data');
    is($res->{status}, 200, "exports/data on $w");
    ok($res->{content} eq $zip1, "exports/data on $w: A's archive");

    $res = node_req($n, 'GET', $t1->{downloadUrl});
    is($res->{status}, 200, "A's signed link on $w");
    ok($res->{content} eq $zip1, "A's link on $w: the same archive");

    $res = node_req($A, 'GET', $t->{downloadUrl});
    is($res->{status}, 200, "$w\'s signed link on A");
}
ok(status_of($B)->{store}{lookups} >= 1, 'B looked the export up in the store');

# an unknown run is remembered as unknown for a moment
is(node_req($B, 'GET', api(run_id(1, 99)))->{status}, 404,
   'a run the store does not have: 404');

# --- the same run again on B while A builds it: one task, one archive

my $r2 = run_id(2, 1);
make_run($dir, $r2, { 'big.ndjson' => noise(120000, 2) });
throttle($A);
my $t2 = json_at(node_req($A, 'POST', api($r2)));
like($t2->{id}, $UUID_RE, 'a long export starts on A');
$res = node_req($B, 'POST', api($r2));
is($res->{status}, 202, 'POST of the same run on B while A builds it');
is(json_at($res)->{id}, $t2->{id}, 'B answers with the task of A');

my ($last, $went_down, $seen_running) = (0, 0, 0);
for (1 .. 400) {
    my $t = json_at(node_req($B, 'GET', api($r2)));
    last if $t->{status} eq 'COMPLETED';
    $seen_running++ if $t->{status} eq 'IN_PROGRESS' && $t->{progress} > 0;
    $went_down++ if $t->{progress} < $last;
    $last = $t->{progress};
    sleep 0.1;
}
unthrottle($A);
ok($seen_running, "B reports A's progress (last seen $last)");
is($went_down, 0, 'the progress B reports never goes down');
my $t = wait_at($C, api($r2), 120);
is($t->{status}, 'COMPLETED', 'C sees it COMPLETED');
is($t->{id}, $t2->{id}, 'the same task');
is(zips_of($r2), 1, 'one archive in the store');
unlike(node_log($B), qr/task \Q$t2->{id}\E of run \S+: attempt \d+ started/,
       'B never built it');

# --- three POSTs at once on three nodes: one task, one archive

# (a report that takes a second or two to build: a run whose export has
# finished gets a new one, so the three must overlap its build)
my $r3 = run_id(3, 1);
make_run($dir, $r3, { 'big.ndjson' => noise(40000, 3) });
throttle($_) for $A, $B, $C;
my @three = simultaneous('POST', api($r3), $A, $B, $C);
unthrottle($_) for $A, $B, $C;
is_deeply([map { $_->{status} } @three], [202, 202, 202],
          'three POSTs at once, each 202');
my %ids = map { (json_at($_) || {})->{id} // 'none' => 1 } @three;
is(scalar keys %ids, 1, 'one task id for all three');
$t = wait_at($B, api($r3), 120);
is($t->{status}, 'COMPLETED', 'it completes');
is(zips_of($r3), 1, 'one archive in the store');
my $built = grep { node_log($_) =~ /of run \Q$r3\E: attempt 1 started/ }
            $A, $B, $C;
is($built, 1, 'one node built it');

# --- the owner is killed mid-export: exactly one other node takes over

my $r4 = run_id(4, 1);
make_run($dir, $r4, { 'big.ndjson' => noise(150000, 4) });
throttle($A);
my $t4 = json_at(node_req($A, 'POST', api($r4)));
for (1 .. 400) {
    $t = json_at(node_req($A, 'GET', api($r4)));
    last if $t->{status} eq 'IN_PROGRESS' && $t->{progress} > 0;
    sleep 0.05;
}
is($t->{status}, 'IN_PROGRESS', 'A is building the export');
# B and C both follow it
is(json_at(node_req($B, 'GET', api($r4)))->{id}, $t4->{id}, 'B follows it');
is(json_at(node_req($C, 'GET', api($r4)))->{id}, $t4->{id}, 'C follows it');
sleep 1.2;
ok(-e "$dir/store/export-$r4.beat", 'A writes its heartbeat');
ok(kill_node($A), 'node A is killed, master and workers (SIGKILL)');
# the lease counts from the last heartbeat the others saw change
my $last_beat = (Time::HiRes::stat("$dir/store/export-$r4.beat"))[9];

$t = wait_at($B, api($r4), 180);
is($t->{status}, 'COMPLETED', 'another node finished the export');
is($t->{id}, $t4->{id}, 'the same task');
cmp_ok(time - $last_beat, '>=', 3,
       'not before the lease since the last heartbeat');
my ($sb, $sc) = (status_of($B), status_of($C));
cmp_ok($sb->{store}{takeovers} + $sc->{store}{takeovers}, '>=', 1,
       'the status pages count the takeover');
my $took = grep { node_log($_) =~ /run \Q$r4\E: the heartbeat of its builder stopped/ }
           $B, $C;
is($took, 1, 'exactly one node logs the takeover');
like(slurp("$dir/store/export-$r4.claim"), qr/"attempt":2/,
     'the claim counts the second attempt');
$res = node_req($C, 'GET', $t->{downloadUrl});
is($res->{status}, 200, 'its archive downloads') or diag $res->{content};
open my $fh, '>:raw', "$dir/r4.zip" or die $!;
print $fh $res->{content};
close $fh;
check_zip("$dir/r4.zip", 'the archive built after the takeover');
is(zips_of($r4), 1, 'one archive in the store');

# A comes back: its dead temporary file goes, it knows the export
$A = start_node(name => 'node-a', port => $port{a}, keep => 1);
my @tmp;
for (1 .. 40) {
    @tmp = glob("$dir/store/.export-*");
    last unless @tmp;
    sleep 0.25;
}
is_deeply(\@tmp, [], 'no temporary file is left once A is back');
is(json_at(node_req($A, 'GET', api($r4)))->{status}, 'COMPLETED',
   'A answers COMPLETED for it');

# --- A is only slow (stopped, then continued): another node takes the
# build over, and A, at its next look at the claim, stops and leaves
# the new archive alone

my $r5 = run_id(5, 1);
make_run($dir, $r5, { 'big.ndjson' => noise(150000, 5) });
throttle($A);
my $t5 = json_at(node_req($A, 'POST', api($r5)));
for (1 .. 400) {
    $t = json_at(node_req($A, 'GET', api($r5)));
    last if $t->{status} eq 'IN_PROGRESS' && $t->{progress} > 0;
    sleep 0.05;
}
is(json_at(node_req($B, 'GET', api($r5)))->{id}, $t5->{id}, 'B follows it');
my @a_pids = ClusterTest::node_pids($A);
unthrottle($A);
kill 'STOP', @a_pids;
my $taken;
for (1 .. 300) {
    $taken = slurp("$dir/store/export-$r5.claim") =~ /"attempt":2/;
    last if $taken;
    sleep 0.1;
}
ok($taken, 'while A is stopped, another node claims attempt 2');
kill 'CONT', @a_pids;
for (1 .. 100) {
    last if node_log($A) =~ /task \Q$t5->{id}\E of run \Q$r5\E: another node took the build over; attempt 1 stops here/;
    sleep 0.1;
}
like(node_log($A), qr/task \Q$t5->{id}\E of run \Q$r5\E: another node took the build over; attempt 1 stops here/,
     'A, continued, finds the claim taken and stops');
$t = wait_at($A, api($r5), 180);
is($t->{status}, 'COMPLETED', 'the export completes');
is($t->{id}, $t5->{id}, 'as the same task');
is(zips_of($r5), 1, 'one archive');
$res = node_req($A, 'GET', $t->{downloadUrl});
open $fh, '>:raw', "$dir/r5.zip" or die $!;
print $fh $res->{content};
close $fh;
check_zip("$dir/r5.zip", 'the archive of the node that took over');
is(status_of($A)->{store}{lostClaims}, 1, "A's status page counts the lost claim");
for (1 .. 40) {
    last unless glob("$dir/store/.export-$t5->{id}.1.*");
    sleep 0.1;
}
is_deeply([glob("$dir/store/.export-$t5->{id}.1.*")], [],
          "A's temporary archive is gone");

# --- DELETE on C cancels the build that A runs

my $r6 = run_id(6, 1);
make_run($dir, $r6, { 'big.ndjson' => noise(150000, 6) });
throttle($A);
my $t6 = json_at(node_req($A, 'POST', api($r6)));
for (1 .. 400) {
    $t = json_at(node_req($A, 'GET', api($r6)));
    last if $t->{status} eq 'IN_PROGRESS';
    sleep 0.05;
}
is($t->{status}, 'IN_PROGRESS', 'A builds another export');
is(node_req($C, 'DELETE', api($r6))->{status}, 204, 'DELETE on C: 204');
my $gone = 0;
for (1 .. 100) {
    $gone = node_req($A, 'GET', api($r6))->{status} == 404
            && node_req($B, 'GET', api($r6))->{status} == 404;
    last if $gone;
    sleep 0.1;
}
unthrottle($A);
ok($gone, 'A and B answer 404 soon after');
for (1 .. 100) {
    last if node_log($A) =~ /task \Q$t6->{id}\E .*(cancelled|deleted)/;
    sleep 0.1;
}
like(node_log($A), qr/task \Q$t6->{id}\E of run \Q$r6\E cancelled/,
     'the build on A stopped');
my @left;
for (1 .. 40) {
    @left = (glob("$dir/store/*$r6*"), glob("$dir/store/.export-$t6->{id}*"));
    last unless @left;
    sleep 0.1;
}
is_deeply(\@left, [], 'nothing of it is left in the store');

# --- export_ttl with three nodes: gone everywhere, removed once

my $r7 = run_id(7, 1);
make_run($dir, $r7, $small);
is(node_req($A, 'POST', "/short" . api($r7))->{status}, 202,
   'an export with a 4 s TTL');
$t = wait_at($A, "/short" . api($r7));
is($t->{status}, 'COMPLETED', 'it completes');
is(json_at(node_req($_, 'GET', "/short" . api($r7)))->{status}, 'COMPLETED',
   "$_->{name} knows it") for $B, $C;
my @st;
for (1 .. 100) {
    @st = map { node_req($_, 'GET', "/short" . api($r7))->{status} }
          $A, $B, $C;
    last if "@st" eq '404 404 404';
    sleep 0.2;
}
is("@st", '404 404 404', 'after its TTL, every node answers 404');
for (1 .. 100) {
    last unless glob("$dir/store/*$r7*");
    sleep 0.1;
}
is_deeply([glob("$dir/store/*$r7*")], [], 'and its files are gone')
    or diag explain [map { [$_, time - (stat $_)[9]] } glob("$dir/store/*$r7*")];
for my $n ($A, $B, $C) {
    unlike(node_log($n), qr/\[(crit|alert|emerg)\]/, "no alert on $n->{name}");
}

# --- metadata cut short: logged by name, the export is not lost

my $meta1 = "$dir/store/export-$r1-$t1->{id}.json";
my $saved = slurp($meta1);
open $fh, '>', $meta1 or die $!;
print $fh substr($saved, 0, 40);
close $fh;
my $E = start_node(name => 'node-e', port => $port{d});
$t = json_at(node_req($E, 'GET', api($r1)));
is($t->{id}, $t1->{id}, 'a node that reads cut metadata still knows the task');
isnt($t->{status}, 'COMPLETED', 'but not as COMPLETED');
like(node_log($E), qr/run \Q$r1\E: metadata ".*\Q$t1->{id}\E\.json" in the export store cannot be read/,
     'the log names the file');
ok(-e "$dir/store/export-$r1-$t1->{id}.zip", 'its archive is not deleted');
open $fh, '>', $meta1 or die $!;
print $fh $saved;
close $fh;
stop_node('node-e');

# --- the other API styles: a job or a file started on one node is
# followed and downloaded on the others

make_run($dir, $_, $small) for qw(clsa1 clsa2);
make_run($dir, '86446', { 'checks.json' => '[{"host": "esx-1"}]' });

$res = node_req($A, 'POST', '/arcgis/admin/healthCheck/reports/export',
                { 'Content-Type' => 'application/x-www-form-urlencoded' },
                'runIds=clsa1,clsa2&f=json');
is($res->{status}, 200, 'ArcGIS: a job of two runs submitted on A');
my $job = json_at($res)->{jobid};
like($job, qr/^j[0-9a-f-]{36}$/, 'ArcGIS: its job id');
my $j;
for (1 .. 300) {
    $j = json_at(node_req($B, 'GET', "/arcgis/admin/jobs/$job?f=json"));
    last if $j && $j->{status} && $j->{status} =~ /^(COMPLETED|FAILED)$/;
    sleep 0.1;
}
is($j->{status}, 'COMPLETED', 'ArcGIS: the job on B is COMPLETED');
is($j->{jobid}, $job, 'ArcGIS: the same job');
my $url = $j->{result}{URL};
like($url, qr{^/exports/file\?task=}, 'ArcGIS: B gives the result link');
$res = node_req($C, 'GET', $url);
is($res->{status}, 200, "ArcGIS: B's link downloads on C");

my $u = json_at(node_req($C, 'POST', '/services/rest/v1/export/job/status',
                         { 'Content-Type' => 'application/json' },
                         qq({"jobCode": "$job"})));
ok($u->{successful}, 'Uniware: the job code of the ArcGIS job on C');
is($u->{status}, 'SUCCESSFUL', 'Uniware: SUCCESSFUL');

$res = node_req($A, 'POST',
                '/api/v1/user_identities/12/exports/86446/export_files');
is($res->{status}, 201, 'WebAdMIT: a file started on A');
my $wf = json_at($res)->{export_files}[0];
my $f;
for (1 .. 300) {
    $f = json_at(node_req($B, 'GET', $wf->{href}));
    last if $f && $f->{export_files}
            && $f->{export_files}{status} eq 'available';
    sleep 0.1;
}
is($f->{export_files}{status}, 'available', 'WebAdMIT: available on B')
    or diag explain $f;
is($f->{export_files}{id}, $wf->{id}, 'WebAdMIT: the same file id');
is(node_req($C, 'GET', $f->{export_files}{download_url})->{status}, 200,
   "WebAdMIT: B's download_url works on C");

# --- a claim that is garbage

my $r8 = run_id(8, 1);
make_run($dir, $r8, $small);
open $fh, '>', "$dir/store/export-$r8.claim" or die $!;
print $fh "{\"runId\": \"$r8\", \"taskId\"";
close $fh;
is(node_req($B, 'GET', api($r8))->{status}, 404,
   'a garbage claim: the run has no export');
like(node_log($B), qr/run \Q$r8\E: ".*export-\Q$r8\E\.claim" in the export store cannot be read/,
     'the log names the file');
is(node_req($B, 'POST', api($r8))->{status}, 202,
   'a POST replaces the garbage claim');
is(wait_at($C, api($r8))->{status}, 'COMPLETED', 'and the export completes');

# --- through the front, round-robin and "hash $run_id consistent"

for my $mode ('round-robin', 'hash') {
    my $F = start_front(port => $port{front}, hash => $mode eq 'hash',
                        nodes => [@port{qw(a b c)}]);
    my $r = run_id(9, $mode eq 'hash' ? 2 : 1);
    make_run($dir, $r, $small);

    $res = front_req($F, 'POST', api($r));
    is($res->{status}, 202, "$mode: POST through the front");
    my $tf = wait_at($F, api($r));
    is($tf->{status}, 'COMPLETED', "$mode: it completes");

    my %answered;
    for (1 .. 6) {
        $res = front_req($F, 'GET', api($r));
        $answered{ $res->{headers}{'x-node'} // '?' }++
            if json_at($res)->{id} eq $tf->{id};
    }
    my $n = () = keys %answered;
    ok($mode eq 'hash' ? $n == 1 : $n == 3,
       "$mode: answered by " . join(', ', sort keys %answered));
    is(front_req($F, 'GET', api($r) . '/data')->{status}, 200,
       "$mode: exports/data through the front");
    is(front_req($F, 'GET', $tf->{downloadUrl})->{status}, 200,
       "$mode: the link through the front");

    # the node that built it dies: the front still serves the export
    my ($owner) = grep { node_log($_) =~ /of run \Q$r\E: attempt 1 started/ }
                  $A, $B, $C;
    ok(kill_node($owner), "$mode: the owner $owner->{name} is killed");
    my $ok = 0;
    for (1 .. 6) {
        $res = front_req($F, 'GET', api($r));
        $ok++ if $res->{status} == 200 && json_at($res)->{id} eq $tf->{id};
    }
    is($ok, 6, "$mode: every status through the front still answers it");
    is(front_req($F, 'GET', api($r) . '/data')->{status}, 200,
       "$mode: and its archive");
    $tf = json_at(front_req($F, 'GET', api($r)));
    is(front_req($F, 'GET', $tf->{downloadUrl})->{status}, 200,
       "$mode: and a new link");

    is(front_req($F, 'DELETE', api($r))->{status}, 204,
       "$mode: DELETE through the front");
    my $all404 = 0;
    for (1 .. 50) {
        $all404 = !grep { front_req($F, 'GET', api($r))->{status} != 404 }
                  1 .. 4;
        last if $all404;
        sleep 0.2;
    }
    ok($all404, "$mode: then 404 from every node");

    # the owner back for the next round
    my ($key) = $owner->{name} =~ /node-(\w)/;
    my $back = start_node(name => $owner->{name}, port => $port{$key},
                          keep => 1);
    ($A, $B, $C) = map { $_->{name} eq $back->{name} ? $back : $_ }
                   $A, $B, $C;
    stop_front();
}

# --- D's export: B or C finished it without being asked (worker 0's
# sweep looks at the store every 60 s)

my $done = '';
while (time - $d_dead < 150) {
    $done = slurp("$dir/store/export-$r10-$t10->{id}.json");
    last if $done =~ /"status":"COMPLETED"/;
    sleep 1;
}
like($done, qr/"status":"COMPLETED"/,
     sprintf('the export of the dead node D was finished by another node '
             . '(%d s after D died)', time - $d_dead));
my $found = grep { node_log($_) =~ /exports of other nodes whose heartbeat stopped are followed/ }
            $A, $B, $C;
ok($found >= 1, 'a sweep found it');
$t = json_at(node_req($B, 'GET', api($r10)));
is($t->{status}, 'COMPLETED', 'B answers COMPLETED for it');
is($t->{id}, $t10->{id}, 'as the same task');

stop_all();
done_testing();
