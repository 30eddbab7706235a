# One run directory holding every hostile entry at once (issue 16 item
# 12): names that are not UTF-8, that hold a newline, an ESC sequence, a
# '"' or a literal "%FF", names too long for a warning, links to a file
# and to a directory outside the run, a FIFO, reports with an overlong
# form, a surrogate and a code point past U+10FFFF, names whose CSV
# entries could meet, a report called manifest.json, and an ordinary
# report.  With 2 workers: the export finishes in bounded time; the
# status body, manifest.json and the metadata file are strict UTF-8 and
# strict JSON; each warning names its report by the name rule, says
# why and where; the archive passes unzip, zipfile and bsdtar, has
# unique UTF-8 entry names and nothing from outside the run; every
# error.log line is one whole nginx line in strict UTF-8 without a
# control byte.  After a stop and a start, all of it again, and the
# same archive bytes.  Last, an unreadable report with a long name: the
# failure message that names it is cut between characters.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helpers";

use Encode ();
use File::Path qw(make_path remove_tree);
use JSON::PP;
use POSIX qw(mkfifo);
use Test::More;
use Time::HiRes qw(time);

use ExportTest;

my $port = 2101;
my $root = test_dir() . "/servroot_flow_$port";
my $run = '00000018-0000-4000-8000-000000000001';
my $api = "/v1/system/check-sets/$run/exports";
my $secret = 'OUTSIDE-' . int(rand(1e9));

my $name_msg = 'the file name cannot be stored in a zip archive; '
             . 'the report is left out';
my $link_msg = 'symbolic link: not followed (export_disable_symlinks); '
             . 'the report is left out';
my $fifo_msg = 'not a regular file: fifo; the report is left out';
my $manifest_msg = 'the name is the archive\'s own manifest.json; '
                 . 'the report is left out';

# the tree before nginx starts

remove_tree($root);
make_path("$root/outside/tree");
spew("$root/outside/secret.json", qq([{"secret": "$secret"}]));
spew("$root/outside/tree/t.json", qq([{"secret": "$secret"}]));

# an ordinary report: UTF-8 of 2, 3 and 4 bytes, quotes, a formula
my $good = qq([\n  {"host": {"name": "esx-1"}, "n": 1.50,\n)
         . qq(   "city": "Z\xc3\xbcrich \xe2\x80\x93 )
         . qq(\xe6\x9d\xb1\xe4\xba\xac",\n)
         . qq(   "text": "say \\"hi\\", then go", "f": "=1+1",\n)
         . qq(   "emoji": "\xf0\x9f\x98\x80"},\n)
         . qq(  {"host": {"name": "esx-2", "ip": "10.0.0.2"}, "n": -3,\n)
         . qq(   "tags": ["a", 1], "none": null}\n]\n);

my $eacute = "\xc3\xa9";
my %files = (
    'good.json' => $good,
    "bad-\xff\xfe.json" => '[{"a": 1}]',
    "nl\n[emerg] forged line.json" => '[{"a": 2}]',
    "\x1b[31mred.json" => '[{"a": 3}]',
    ("\xff" x 100) . '.json' => '[{"a": 4}]',
    'bad-%FF%FE.json' => '{"not json',
    ($eacute x 70) . '.json' => '{"x": ',
    'q"uote.json' => '[',
    'overlong.json' => qq([{"s": "a\xc0\xafb"}]),
    'surrogate.json' => qq([{"s": "x\xed\xa0\x80y"}]),
    'past.json' => qq([{"s": "\xf4\x90\x80\x80"}]),
    'x.json' => '[{"k": "json"}]',
    'x.ndjson' => qq({"k": "ndjson"}\n),
    'x.ndjson.json' => '[{"k": "ndjson.json"}]',
    'manifest.json' => '{"forged": "manifest"}',
);

# every warning: report (name rule) => [message, offset]
my %want = (
    'bad-%FF%FE.json' => [$name_msg, 0],
    'nl%0A[emerg] forged line.json' => [$name_msg, 0],
    '%1B[31mred.json' => [$name_msg, 0],
    # 127 bytes at most, cut before a %XX, not inside it
    ('%FF' x 42) => [$name_msg, 0],
    # '%' itself is escaped: no collision with the name above
    'bad-%25FF%25FE.json' => [qr/^invalid JSON: /, length '{"not json'],
    # cut before a character, not inside it
    ("\x{e9}" x 63) => [qr/^invalid JSON: /, length '{"x": '],
    'q"uote.json' => [qr/^invalid JSON: /, 1],
    'overlong.json' => [qr/^invalid JSON: invalid UTF-8 \(overlong form\)/,
                        index($files{'overlong.json'}, "\xc0")],
    'surrogate.json' => [qr/^invalid JSON: invalid UTF-8 \(surrogate\)/,
                         index($files{'surrogate.json'}, "\xa0")],
    'past.json' => [qr/^invalid JSON: invalid UTF-8 \(code point past U\+10FFFF/,
                    index($files{'past.json'}, "\x90")],
    'link.json' => [$link_msg, 0],
    'outdir.json' => [$link_msg, 0],
    'pipe.json' => [$fifo_msg, 0],
    'manifest.json' => [$manifest_msg, 0],
);

# name (characters) => bytes of every entry but manifest.json
my %entries = (
    'good.json' => $good,
    'good.csv' => expected_csv($good),
    'bad-%FF%FE.json' => $files{'bad-%FF%FE.json'},
    ("\x{e9}" x 70) . '.json' => $files{($eacute x 70) . '.json'},
    'q"uote.json' => $files{'q"uote.json'},
    'overlong.json' => $files{'overlong.json'},
    'surrogate.json' => $files{'surrogate.json'},
    'past.json' => $files{'past.json'},
    'x.json' => $files{'x.json'},
    'x.csv' => "k\r\njson\r\n",
    'x.ndjson' => $files{'x.ndjson'},
    'x.ndjson.csv' => "k\r\nndjson\r\n",
    'x.ndjson.json' => $files{'x.ndjson.json'},
    'x.ndjson.json.csv' => "k\r\nndjson.json\r\n",
);

# the manifest's reports: name => CSV entry
my %manifest_csv = (
    'good.json' => 'good.csv',
    'bad-%FF%FE.json' => undef,
    ("\x{e9}" x 70) . '.json' => undef,
    'q"uote.json' => undef,
    'overlong.json' => undef,
    'surrogate.json' => undef,
    'past.json' => undef,
    'x.json' => 'x.csv',
    'x.ndjson' => 'x.ndjson.csv',
    'x.ndjson.json' => 'x.ndjson.json.csv',
);

my $dir = make_run($root, $run, \%files);
symlink("$root/outside/secret.json", "$dir/link.json") or die $!;
symlink("$root/outside/tree", "$dir/outdir.json") or die $!;
symlink("$root/outside/tree", "$dir/tree") or die $!;
mkfifo("$dir/pipe.json", 0644) or die "mkfifo: $!";

# info: nginx's own debug lines print response headers over several lines
my %o = (port => $port, root => $root, keep => 1, workers => 2,
         log_level => 'info',
         files => { 'conf/link.key' => 'k' x 32 },
         http => "    export_link_secret link.key;\n");
my $n = start_nginx(%o);

# --- the export: 202, then COMPLETED in bounded time

my $t0 = time;
my $res = http_req('POST', $api);
is($res->{status}, 202, 'POST of the hostile run answers 202');
my ($t, $why) = strict_json($res->{content});
ok($t, 'the POST body is strict UTF-8 and strict JSON') or diag $why;

$t = wait_status($run, 30);
is($t->{status}, 'COMPLETED', 'the export is COMPLETED');
cmp_ok(time - $t0, '<', 20, 'in bounded time: the FIFO blocked nothing');

$res = http_req('GET', $api);
is($res->{status}, 200, 'GET answers 200');
my $before = check_status($res, 'before the restart');

my $zip = http_req('GET', $before->{downloadUrl});
is($zip->{status}, 200, 'the archive downloads');
my $bytes = $zip->{content};
check_archive($bytes, $before, 'before the restart');
is(http_req('GET', "$api/data")->{content}, $bytes,
   'exports/data serves the same bytes');

my $meta = "$root/store/export-$run-$before->{id}.json";
($t, $why) = strict_json(slurp($meta));
ok($t, 'the metadata file is strict UTF-8 and strict JSON') or diag $why;

check_log('before the restart');

# --- stop, start: the same task, the same warnings, the same bytes

stop_nginx();
$n = start_nginx(%o);

$res = http_req('GET', $api);
is($res->{status}, 200, 'GET after the restart answers 200');
my $after = check_status($res, 'after the restart');
for my $f (qw(status id runId size startTimestamp endTimestamp progress)) {
    is($after->{$f}, $before->{$f}, "after the restart: the same $f");
}
is_deeply($after->{warnings}, $before->{warnings},
          'after the restart: the same warnings, in the same order');

$zip = http_req('GET', $after->{downloadUrl});
is($zip->{status}, 200, 'after the restart: a new link downloads');
ok($zip->{content} eq $bytes, 'after the restart: the same archive bytes');
$zip = http_req('GET', $before->{downloadUrl});
is($zip->{status}, 200, 'after the restart: the link from before works');
ok($zip->{content} eq $bytes, 'and gives the same bytes');
ok(http_req('GET', "$api/data")->{content} eq $bytes,
   'after the restart: exports/data serves the same bytes');
check_archive($bytes, $after, 'after the restart');

check_log('after the restart');

# --- a failure that names a report: its message, cut at 256 bytes, is
# cut between characters (workers as nobody, so a report can be
# unreadable, as in t/faults.t)

stop_nginx();
$n = start_nginx(%o, main => 'user nobody nogroup;', root_user => 0);
my $run2 = '00000018-0000-4000-8000-000000000002';
my $east = "\xe6\x9d\xb1";
my $long = ($east x 80) . '.json';
my $dir2 = make_run($root, $run2, { 'ok.json' => '[1]', $long => '[2]' });
chmod 0000, "$dir2/$long";

is(http_req('POST', "/v1/system/check-sets/$run2/exports")->{status}, 202,
   'POST of a run with an unreadable report whose name is long');
wait_status($run2, 30);
$res = http_req('GET', "/v1/system/check-sets/$run2/exports");
($t, $why) = strict_json($res->{content});
ok($t, 'the FAILED status body is strict UTF-8 and strict JSON')
    or diag $why;
$t ||= eval { JSON::PP->new->decode($res->{content}) } || {};
is($t->{status}, 'FAILED', 'the export is FAILED');
# 20 bytes, then 236 of the name would fit: 78 whole characters
is(Encode::encode('UTF-8', $t->{error}{message} // ''),
   'cannot open report "' . ($east x 78),
   'its message is cut before the character that did not fit');
($t, $why) = strict_json(slurp((glob "$root/store/export-$run2-*.json")[0]
                               // ''));
ok($t, 'its metadata file is strict UTF-8 and strict JSON') or diag $why;
check_log('after the failure');

stop_nginx();
done_testing();


# the status body: strict, COMPLETED, each warning exactly as wanted
sub check_status {
    my ($res, $what) = @_;
    like($res->{headers}{'content-type'} // '', qr{^application/json},
         "$what: the status is JSON");
    my ($t, $why) = strict_json($res->{content});
    ok($t, "$what: the status body is strict UTF-8 and strict JSON")
        or diag $why;
    # the other checks on what a lenient parser makes of it
    $t ||= eval { JSON::PP->new->decode($res->{content}) } || {};
    check_task($t, $run, $what);
    is($t->{status}, 'COMPLETED', "$what: COMPLETED");
    check_warnings($t->{warnings}, "$what: status");
    return $t;
}

sub check_warnings {
    my ($list, $what) = @_;
    my %got;
    for my $w (@{ $list || [] }) {
        ok(!exists $got{ $w->{report} },
           "$what: one warning for \"$w->{report}\"");
        $got{ $w->{report} } = $w;
    }
    is_deeply([sort keys %got], [sort keys %want],
              "$what: a warning for each hostile entry, each named by the "
              . 'name rule, and no other')
        or diag explain [sort keys %got];
    for my $r (sort keys %want) {
        my $w = $got{$r} or next;
        my ($msg, $off) = @{ $want{$r} };
        if (ref $msg) {
            like($w->{message}, $msg, "$what: \"$r\": the reason");
        } else {
            is($w->{message}, $msg, "$what: \"$r\": the reason");
        }
        is($w->{offset}, $off, "$what: \"$r\": the offset");
        cmp_ok(length Encode::encode('UTF-8', $r), '<=', 127,
               "$what: \"$r\": at most 127 bytes");
    }
}

# the archive: whole for three readers, unique UTF-8 names, the entries
# wanted and nothing else, nothing from outside, a strict manifest
sub check_archive {
    my ($bytes, $t, $what) = @_;
    (my $file = "$root/$what.zip") =~ s/ /_/g;
    spew($file, $bytes);
    check_zip($file, $what);

    my $names = eval { zip_names($file) };
    ok($names, "$what: zipfile lists the entries") or return;
    my %seen;
    my @dups = grep { $seen{ $_->[0] }++ } @$names;
    is_deeply(\@dups, [], "$what: no two entries share a name");
    is_deeply([grep { !$_->[1] } @$names], [],
              "$what: every entry has the UTF-8 flag");
    is_deeply([grep { /[\x00-\x1f\x7f\\]/ } map { $_->[0] } @$names], [],
              "$what: no entry name holds a control character or '\\'");
    is($names->[-1][0], 'manifest.json', "$what: manifest.json is last");

    my $e = eval { zip_entries($file) } || {};
    is_deeply([sort keys %$e], [sort 'manifest.json', keys %entries],
              "$what: the entries are the reports that can be stored, "
              . 'their CSVs and the manifest')
        or diag explain [sort keys %$e];
    for my $name (sort keys %entries) {
        ok(defined $e->{$name} && $e->{$name} eq $entries{$name},
           "$what: \"$name\" holds the bytes wanted");
    }
    ok(!(grep { index($_, $secret) >= 0 } values %$e),
       "$what: nothing from outside the run is in the archive");

    my ($m, $why) = strict_json($e->{'manifest.json'} // '');
    ok($m, "$what: manifest.json is strict UTF-8 and strict JSON")
        or diag $why;
    $m ||= eval { JSON::PP->new->decode($e->{'manifest.json'}) } || {};
    is($m->{taskId}, $t->{id}, "$what: manifest.json is the module's");
    my %csv = map { $_->{name} => $_->{csv} } @{ $m->{reports} || [] };
    is_deeply(\%csv, \%manifest_csv,
              "$what: the manifest lists the stored reports and their CSVs")
        or diag explain \%csv;
    check_warnings($m->{warnings}, "$what: manifest");
}

# every line of error.log: the nginx prefix, strict UTF-8, no control
# byte; the warnings logged with the log rule
sub check_log {
    my ($what) = @_;
    my $log = slurp("$root/logs/error.log");
    my @lines = split /\n/, $log;
    my $level = qr/debug|info|notice|warn|error|crit|alert|emerg/;
    my @bad = grep {
        !m{^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[$level\] }
    } @lines;
    is_deeply(\@bad, [], "$what: every error.log line starts with the "
                         . 'nginx time and level');
    @bad = grep { /[\x00-\x1f\x7f]/ } @lines;
    is_deeply(\@bad, [], "$what: no error.log line holds a control byte");
    @bad = grep {
        !defined eval { Encode::decode('UTF-8', my $l = $_, Encode::FB_CROAK) }
    } @lines;
    is_deeply(\@bad, [], "$what: every error.log line is strict UTF-8");

    my $task = qr/export: task \Q$before->{id}\E of run \Q$run\E: report/;
    for my $r ('bad-\xFF\xFE.json', 'nl\x0A[emerg] forged line.json',
               '\x1B[31mred.json', ('\xFF' x 100) . '.json',
               'q\x22uote.json', 'pipe.json', 'link.json')
    {
        like($log, qr/$task "\Q$r\E" at byte \d+: /,
             "$what: error.log has the warning for \"$r\" by the log rule");
    }
}

sub spew {
    open my $fh, '>:raw', $_[0] or die "$_[0]: $!";
    print $fh $_[1];
    close $fh;
}
