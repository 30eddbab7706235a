# End to end with 2 workers: an export started through one worker is
# followed, downloaded and deleted through the other; the archive is
# checked with unzip, Python's zipfile and bsdtar, and its JSON and CSV
# entries are compared with the source reports.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helpers";

use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);
use Test::More;
use Time::HiRes qw(sleep time);

use ExportTest;

my $run = '3f2a1c4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b';
my $api = "/v1/system/check-sets/$run/exports";

my $key = 'k' x 32;

my $n = start_nginx(port => 1986, files => { 'conf/link.key' => $key },
                    http => "    export_link_secret link.key;\n");

my $mtime = 1764000000;    # 2025-11-24T16:00:00Z

my %reports = (
    'hosts.json' => <<'JSON',
[
  {"host": {"name": "esx-1", "ip": "10.0.0.1"}, "status": "PASSED",
   "latency": 1.50, "count": 3, "tags": ["a", "b"], "note": null},
  {"host": {"name": "esx-2"}, "status": "FAILED", "latency": -2,
   "formula": "=SUM(A1:A2)", "plus": "+1", "text": "say \"hi\", then go",
   "multi": "line1\nline2", "city": "Zürich – 東京", "ok": true}
]
JSON
    'services.ndjson' => qq({"service": "dns", "state": "running"}\r\n)
        . qq(\n{"service": "ntp", "extra": {"drift": 0.001}}\n),
    'summary.json' => '{"title": "run", "total": 2, "results": '
        . '[{"check": "disk", "pct": 91}, {"check": "cpu", "pct": 7}]}',
    'broken.json' => '{"cluster": "cl-0", "disks": [1, 2',
    'notes.txt' => "not a report\n",
    'dup.json' => '[{"k": "json"}]',
    'dup.ndjson' => qq({"k": "ndjson"}\n),
    "back\\slash.json" => '[{"k": 1}]',
);

make_run($n->{root}, $run, \%reports, $mtime);

# --- POST: 202 with Location and Retry-After

my $res = http_req('POST', $api);
is($res->{status}, 202, 'POST answers 202');
is($res->{headers}{location}, $api, 'Location is the status URL');
like($res->{headers}{'retry-after'}, qr/^\d+$/, 'Retry-After in seconds');
my $t = json_of($res);
check_task($t, $run, 'POST answer');
my $id = $t->{id};
my $post_worker = $res->{headers}{'x-worker'};

# --- the other worker sees the same task

my ($other, $seen);
for (1 .. 60) {
    my $r = http_req('GET', $api);
    if ($r->{headers}{'x-worker'} ne $post_worker) {
        $other = $r;
        last;
    }
}
ok($other, 'a GET reached the other worker') or BAIL_OUT('one worker only');
is($other->{status}, 200, 'the other worker answers 200');
is(json_of($other)->{id}, $id, 'the other worker sees the same task');

$t = wait_status($run);
check_task($t, $run, 'finished task');
is($t->{status}, 'COMPLETED', 'the export completed');
is($t->{id}, $id, 'same task id');

# the damaged report is a warning, not a failure; so is a file name a
# zip cannot hold
my %w = map { $_->{report} => $_ } @{ $t->{warnings} };
is_deeply([sort keys %w], ["back\\slash.json", 'broken.json'],
          'two warnings, each naming its report');
like($w{'broken.json'}{offset}, qr/^\d+$/, 'the warning has a byte offset');
cmp_ok($w{'broken.json'}{offset}, '>', 20, 'the offset points into the report');
ok(length $w{'broken.json'}{message}, 'the warning says why');
like($w{"back\\slash.json"}{message}, qr/cannot be stored in a zip/,
     'a name the zip cannot hold is left out with a warning');

# --- re-POST of a finished export gives a new task

# (checked at the end, after the download tests)

# --- download through the signed link

$res = http_req('GET', $t->{downloadUrl});
is($res->{status}, 200, 'the signed link answers 200');
is($res->{headers}{'content-type'}, 'application/zip', 'Content-Type');
is($res->{headers}{'content-disposition'},
   "attachment; filename=\"export-$run.zip\"", 'Content-Disposition');
is($res->{headers}{'content-length'}, length $res->{content},
   'Content-Length');
is($res->{headers}{'content-length'}, $t->{size}, 'size in the status');
like($res->{headers}{etag} // '', qr/^"[0-9a-f]+-[0-9a-f]+"$/, 'ETag');
ok($res->{headers}{'last-modified'}, 'Last-Modified');
is($res->{headers}{'accept-ranges'}, 'bytes', 'Accept-Ranges');

my $zip = "$n->{root}/download.zip";
open my $zf, '>:raw', $zip or die $!;
print $zf $res->{content};
close $zf;

check_zip($zip, 'the archive');

my $e = zip_entries($zip);
is_deeply([sort keys %$e],
          [sort qw(hosts.json hosts.csv services.ndjson services.csv
                   summary.json summary.csv broken.json manifest.json
                   dup.json dup.csv dup.ndjson dup.ndjson.csv)],
          'the archive holds every report, its CSV and the manifest');

for my $name (qw(hosts.json services.ndjson summary.json broken.json)) {
    ok($e->{$name} eq $reports{$name}, "$name is the report's bytes");
}

is($e->{'hosts.csv'}, expected_csv($reports{'hosts.json'}, 0),
   'hosts.csv follows the CSV rules');
is($e->{'services.csv'}, expected_csv($reports{'services.ndjson'}, 1),
   'services.csv follows the CSV rules (NDJSON)');
is($e->{'summary.csv'}, expected_csv($reports{'summary.json'}, 0),
   'summary.csv takes the rows of the first array member');

# the rules themselves, spelled out once so the helper cannot drift
like($e->{'hosts.csv'}, qr/^host\.name,host\.ip,status,latency,count,tags,/,
     'nested keys are joined with dots, in order of first appearance');
like($e->{'hosts.csv'}, qr/,1\.50,3,"\[""a"",""b""\]",/,
     'numbers verbatim, arrays as compact JSON, quotes doubled');
like($e->{'hosts.csv'}, qr/,'=SUM\(A1:A2\),'\+1,/, 'formula guard');
like($e->{'hosts.csv'}, qr/,-2,/, 'a negative number is not guarded');
like($e->{'hosts.csv'}, qr/"line1\nline2"/, 'a newline is quoted');
like($e->{'hosts.csv'}, qr/\r\n$/, 'CRLF line ends');

is($e->{'dup.csv'}, "k\r\njson\r\n", 'NAME.csv is the CSV of NAME.json');
is($e->{'dup.ndjson.csv'}, "k\r\nndjson\r\n",
   'NAME.ndjson.csv when NAME.json also stands in the run');

my $m = JSON::PP->new->decode($e->{'manifest.json'});
is($m->{runId}, $run, 'manifest runId');
is($m->{taskId}, $id, 'manifest taskId');
like($m->{generatedAt}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
     'manifest generatedAt');
my %mr = map { $_->{name} => $_ } @{ $m->{reports} };
is($mr{'hosts.json'}{rows}, 2, 'manifest rows of hosts.json');
is($mr{"hosts.json"}{columns}, 13, 'manifest columns of hosts.json');
is($mr{'services.ndjson'}{rows}, 2, 'manifest rows of services.ndjson');
is($mr{'broken.json'}{csv}, undef, 'manifest: broken.json has no CSV');
is_deeply([sort map { $_->{report} } @{ $m->{warnings} }],
          ["back\\slash.json", 'broken.json'], 'manifest warnings');
is($mr{'dup.ndjson'}{csv}, 'dup.ndjson.csv', 'manifest names the CSV entry');

# entry times come from the report files
my $times = `python3 -c 'import sys, zipfile
for i in zipfile.ZipFile(sys.argv[1]).infolist(): print(i.filename, *i.date_time)' $zip`;
like($times, qr/^hosts\.json 2025 11 24 16 0 0$/m,
     'entry time is the report file time');

# --- ranges and HEAD

$res = http_req('GET', $t->{downloadUrl}, { Range => 'bytes=0-99' });
is($res->{status}, 206, 'a range answers 206');
is(length $res->{content}, 100, '100 bytes');
ok(substr($e->{'hosts.json'}, 0, 0) eq ''
   && $res->{content} eq substr(slurp($zip), 0, 100), 'the right bytes');

$res = http_req('HEAD', $t->{downloadUrl});
is($res->{status}, 200, 'HEAD answers 200');
is($res->{content} // "", "", "HEAD has no body");
is($res->{headers}{'content-length'}, $t->{size}, 'HEAD Content-Length');

# a parameter named like the signature does not hide the real one from
# the log filter
my ($real_sig) = $t->{downloadUrl} =~ /signature=([\w-]+)/;
(my $decoy = $t->{downloadUrl}) =~ s/\?/?xsignature=decoy&/;
is(http_req('GET', $decoy)->{status}, 200,
   'a link with another parameter first still works');

# --- GET .../exports/data

$res = http_req('GET', "$api/data");
is($res->{status}, 200, 'exports/data answers 200');
ok($res->{content} eq slurp($zip), 'exports/data serves the same archive');

# --- tampered and expired links

my $url = $t->{downloadUrl};
(my $bad = $url) =~ s/signature=(.)/'signature=' . ($1 eq 'A' ? 'B' : 'A')/e;
check_error(http_req('GET', $bad), 403, 'EXPORT_LINK_INVALID',
            'tampered signature');

(my $later = $url) =~ s/expires=(\d+)/'expires=' . ($1 + 3600)/e;
check_error(http_req('GET', $later), 403, 'EXPORT_LINK_INVALID',
            'expiry moved later');

(my $nosig = $url) =~ s/&signature=.*//;
check_error(http_req('GET', $nosig), 403, 'EXPORT_LINK_INVALID',
            'no signature');

my $past = int(time) - 10;
my $sig = encode_base64url(hmac_sha256("v1\n$run\n$id\n$past", $key));
check_error(http_req('GET', "$api/file?task=$id&expires=$past&signature=$sig"),
            403, 'EXPORT_LINK_EXPIRED', 'expired link');

my $future = int(time) + 20;
$sig = encode_base64url(hmac_sha256("v1\n$run\n$id\n$future", $key));
is(http_req('GET', "$api/file?task=$id&expires=$future&signature=$sig")
       ->{status}, 200, 'a link signed with the key by hand is accepted');

my $other_run = '00000000-0000-4000-8000-000000000000';
check_error(http_req('GET', "/v1/system/check-sets/$other_run/exports/file"
                            . "?task=$id&expires=$future&signature=$sig"),
            403, 'EXPORT_LINK_INVALID', 'a link used for another run');

# --- each status GET signs its own link: two finished exports polled in
#     turn, many times a second, get each time the signature of their own
#     run, task and expiry

my $run2 = '00000000-0000-4000-8000-0000000000b2';
make_run($n->{root}, $run2, { 'a.json' => '[{"a": 1}]' }, $mtime);
is(http_req('POST', "/v1/system/check-sets/$run2/exports")->{status}, 202,
   'POST of a second run');
my $t2 = wait_status($run2);
is($t2->{status}, 'COMPLETED', 'the second export completed');

my ($wrong, %links) = (0);
for my $i (1 .. 40) {
    my ($r, $tid) = $i % 2 ? ($run, $id) : ($run2, $t2->{id});
    my $u = json_of(http_req('GET', "/v1/system/check-sets/$r/exports"))
                ->{downloadUrl} // '';
    my ($exp, $s) = $u =~ /[?&]expires=(\d+)&signature=([\w-]+)$/;
    $wrong++ unless defined $s && $s eq
        encode_base64url(hmac_sha256("v1\n$r\n$tid\n$exp", $key));
    $links{"$r $exp"} = $s if defined $s;
}
is($wrong, 0, '40 links of two exports polled in turn: each signed for its '
              . 'own run and task');
ok((grep { /^\Q$run\E / } keys %links)
   && (grep { /^\Q$run2\E / } keys %links), 'both exports gave links');

# --- POST again: a finished export is replaced

$res = http_req('POST', $api);
is($res->{status}, 202, 'POST after COMPLETED answers 202');
my $id2 = json_of($res)->{id};
isnt($id2, $id, 'a new task replaces the finished one');
$t = wait_status($run);
is($t->{status}, 'COMPLETED', 'the new export completed');
check_error(http_req('GET', $url), 404, 'EXPORT_TASK_NOT_FOUND',
            'the old link: archive gone');
my @old = glob("$n->{root}/store/export-$run-$id.zip");
wait_gone("$n->{root}/store/export-$run-$id.zip");
ok(!-e "$n->{root}/store/export-$run-$id.zip", 'the old archive is removed');

# --- DELETE through each worker: 204, then 404 everywhere

$res = http_req('DELETE', $api);
is($res->{status}, 204, 'DELETE answers 204');
is($res->{content} // "", "", "DELETE has no body");
my %w404;
for (1 .. 40) {
    my $r = http_req('GET', $api);
    $w404{ $r->{headers}{'x-worker'} } = $r->{status};
}
is(scalar keys %w404, 2, 'both workers asked after DELETE');
is_deeply([values %w404], [404, 404], 'both answer 404 after DELETE');
check_error(http_req('GET', $api), 404, 'EXPORT_TASK_NOT_FOUND',
            'GET after DELETE');
check_error(http_req('DELETE', $api), 404, 'EXPORT_TASK_NOT_FOUND',
            'DELETE after DELETE');
wait_gone("$n->{root}/store/export-$run-$id2.zip");
ok(!-e "$n->{root}/store/export-$run-$id2.zip", 'DELETE removes the archive');

# --- a long export: progress only goes up, re-POST gives the same task,
#     DELETE cancels it and leaves nothing behind

my $big = 'b1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';
my $bigapi = "/v1/system/check-sets/$big/exports";
my $row = '{"host": {"name": "esx", "ip": "10.0.0.1"}, "status": "PASSED",'
          . ' "latency": 1.5, "tags": ["x", "y"], "msg": "'
          . ('x' x 200) . "\"}";
make_run($n->{root}, $big,
         { map { ("r$_.ndjson" => join("\n", ($row) x 60000) . "\n") } 1 .. 4 });

$res = http_req('POST', $bigapi);
is($res->{status}, 202, 'POST of a large run');
my $bid = json_of($res)->{id};

my @progress;
my $deadline = time + 60;
my $last;
while (time < $deadline) {
    my $r = json_of(http_req('GET', $bigapi));
    push @progress, $r->{progress};
    $last = $r;
    last if $r->{status} eq 'COMPLETED' || $r->{status} eq 'FAILED';
    sleep 0.02;
}
is($last->{status}, 'COMPLETED', 'the large export completed');
my $mono = 1;
for my $i (1 .. $#progress) {
    $mono = 0 if $progress[$i] < $progress[$i - 1];
}
ok($mono, 'progress never went down (' . scalar(@progress) . ' polls)');
ok((grep { $_ > 0 && $_ < 100 } @progress) > 0, 'progress was seen between 0 and 100');

# again, but cancel while it runs
$res = http_req('POST', $bigapi);
my $cid = json_of($res)->{id};
isnt($cid, $bid, 'a new export of the large run');
my $r2 = json_of(http_req('POST', $bigapi));
is($r2->{id}, $cid, 're-POST of an unfinished export gives the same task');
is(http_req('POST', $bigapi)->{status}, 202, 're-POST answers 202');

for (1 .. 200) {
    last if json_of(http_req('GET', $bigapi))->{status} eq 'IN_PROGRESS';
    sleep 0.01;
}
my $t0 = time;
is(http_req('DELETE', $bigapi)->{status}, 204, 'DELETE of a running export');
check_error(http_req('GET', $bigapi), 404, 'EXPORT_TASK_NOT_FOUND',
            'a cancelled export is gone');
my $clean = 0;
while (time - $t0 < 10) {
    my @left = grep { /\Q$cid\E/ } glob("$n->{root}/store/* $n->{root}/store/.*");
    if (!@left) { $clean = 1; last }
    sleep 0.05;
}
ok($clean, 'the cancelled export left no file in the store');
# the job logs the cancel just after it removed its files: a loaded
# machine may run this test in between
my $logged = 0;
while (time - $t0 < 10) {
    if (slurp("$n->{root}/logs/error.log") =~ /task $cid of run $big cancelled/) {
        $logged = 1;
        last;
    }
    sleep 0.05;
}
ok($logged, 'the cancel is logged');

like(slurp("$n->{root}/logs/error.log"),
     qr/\[warn\] .*export: task $id of run $run: report "broken\.json" at byte \d+: /,
     'the warning is logged with the task, the report and the offset');
# no log line shows a link's signature or the key (nginx's own debug
# lines print raw requests, as they do for any module)
for my $log (qw(error.log access.log)) {
    my $text = join "\n", grep { !/ \[debug\] / }
                          split /\n/, slurp("$n->{root}/logs/$log");
    unlike($text, qr/(?<![a-z])signature=[A-Za-z0-9_]/,
           "$log holds no signature");
    unlike($text, qr/\Q$real_sig\E/, "$log holds no signature value");
    unlike($text, qr/\Q$key\E/, "$log holds no link key");
}
like(slurp("$n->{root}/logs/access.log"), qr/signature=- /,
     'access.log shows the link without its signature');

# --- reports read in one chunk, in exactly one, and in several: the job
#     reads a report in chunks of 256 KiB, and converts one that a single
#     read took whole from memory; every CSV follows the rules either way

my $sizes = 'c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f';
my $chunk = 256 * 1024;
my %sized;
{
    my $line = '{"host": {"name": "esx-%06d"}, "status": "PASSED", "n": %d}';
    my $rows = sub {
        my ($bytes) = @_;
        my ($text, $i) = ('', 0);
        $text .= sprintf($line, $i, $i) . "\n", $i++
            while length($text) < $bytes - 200;
        return $text;
    };
    $sized{'one.ndjson'} = $rows->(4000);
    $sized{'several.ndjson'} = $rows->(3 * $chunk + 5000);
    # exactly one chunk: padded with spaces after the last row
    my $exact = $rows->($chunk);
    $sized{'exact.ndjson'} = $exact . (' ' x ($chunk - length($exact) - 1))
                             . "\n";
    $sized{'empty-array.json'} = '[]';
    $sized{'empty.ndjson'} = '';
}
is(length $sized{'exact.ndjson'}, $chunk, 'a report of exactly 256 KiB');
make_run($n->{root}, $sizes, \%sized);
is(http_req('POST', "/v1/system/check-sets/$sizes/exports")->{status}, 202,
   'POST of the run of sized reports');
my $st = wait_status($sizes);
is($st->{status}, 'COMPLETED', 'the export of sized reports completed');
$res = http_req('GET', $st->{downloadUrl});
is($res->{status}, 200, 'its archive downloads');
open $zf, '>:raw', "$n->{root}/sized.zip" or die $!;
print $zf $res->{content};
close $zf;
check_zip("$n->{root}/sized.zip", 'the archive of sized reports');
$e = zip_entries("$n->{root}/sized.zip");
for my $name (sort keys %sized) {
    my $csv = $name =~ s/\.n?d?json$/.csv/r;
    is($e->{$name}, $sized{$name}, "$name: the report's bytes");
    is($e->{$csv}, expected_csv($sized{$name}, $name =~ /ndjson$/),
       "$csv follows the CSV rules");
}
my %sm = map { $_->{name} => $_ }
         @{ JSON::PP->new->decode($e->{'manifest.json'})->{reports} };
cmp_ok($sm{'several.ndjson'}{rows}, '>', 3 * $chunk / 80,
       'manifest rows of the report of several chunks');

unlike(slurp("$n->{root}/logs/error.log"), qr/\[(alert|crit|emerg)\]/,
       'no alert in error.log');

stop_nginx();
done_testing();


sub wait_gone {
    my ($f) = @_;
    for (1 .. 100) {
        return unless -e $f;
        sleep 0.05;
    }
}
