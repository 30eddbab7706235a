# Links and special files in a run directory (export_disable_symlinks):
# by default a symbolic link in the run directory, to a file or to a
# directory outside it, is not followed and a FIFO or a socket does not
# hold the export; each is a warning in the task and the manifest.  The
# source root and the store reached through links work with the
# default; "off" follows links, "if_not_owner" follows those whose owner
# is the target's, "from=" checks the part of the path after it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helpers";

use File::Path qw(make_path remove_tree);
use IO::Socket::UNIX;
use JSON::PP;
use POSIX qw(mkfifo);
use Socket qw(SOCK_STREAM);
use Test::More;
use Time::HiRes qw(time);

use ExportTest;

sub run_id { sprintf '%08x-0000-4000-8000-%012x', 16, $_[0] }

my $port = 2020;
my $root = test_dir() . "/servroot_flow_$port";
my $secret = 'TOPSECRET-' . int(rand(1e9));

# the tree before nginx starts: the store and the runs' root are links
remove_tree($root);
make_path("$root/real-runs", "$root/real-store", "$root/outside/dir.json",
          "$root/outside/tree");
chmod 0777, "$root/real-store";
symlink("$root/real-runs", "$root/runs") or die "symlink: $!";
symlink("$root/real-store", "$root/store-link") or die "symlink: $!";
spew("$root/outside/secret.json", qq([{"secret": "$secret"}]));
spew("$root/outside/mine.json", '[{"mine": 1}]');
spew("$root/outside/tree/t.json", qq([{"secret": "$secret"}]));

my $loc = sub {
    my ($prefix, $extra) = @_;
    return <<"LOC";
        location ~ ^$prefix/v1/system/check-sets/(?<run_id>[^/]+)/exports\$ {
            export_api zone=exports;
            export_run_id \$run_id;
            export_source $root/runs/\$run_id;
            export_store $root/store-link;
            export_thread_pool exports;
            $extra
        }
LOC
};

my $server = $loc->('', '')
           . $loc->('/off', 'export_disable_symlinks off;')
           . $loc->('/owner', 'export_disable_symlinks if_not_owner;')
           . $loc->('/from', "export_disable_symlinks on from=$root;")
           . $loc->('/runs', "export_disable_symlinks on from=$root/runs/;")
           . <<"LOC";
        location ~ ^(/[a-z]+)?/v1/system/check-sets/(?<run_id>[^/]+)/exports/file\$ {
            export_download zone=exports;
            export_run_id \$run_id;
        }
LOC

my $n = start_nginx(port => $port, root => $root, keep => 1,
                    server => $server);

# a run with a link to a file outside, a link to a directory outside, a
# FIFO and a socket beside a good report
sub hostile_run {
    my ($run) = @_;
    my $dir = make_run($root, $run, { 'ok.json' => '[{"a": 1}]' });
    symlink("$root/outside/secret.json", "$dir/link.json") or die $!;
    symlink("$root/outside/dir.json", "$dir/dirlink.json") or die $!;
    symlink("$root/outside/tree", "$dir/tree") or die $!;
    symlink("$root/outside/gone.json", "$dir/broken.json") or die $!;
    mkfifo("$dir/pipe.json", 0644) or die "mkfifo: $!";
    my $sock = IO::Socket::UNIX->new(Type => SOCK_STREAM,
                                     Local => "$dir/sock.ndjson",
                                     Listen => 1);
    return ($dir, $sock);
}

# the archive of a COMPLETED task: name => bytes, after the outside tools
sub archive {
    my ($t, $what) = @_;
    my $res = http_req('GET', $t->{downloadUrl});
    is($res->{status}, 200, "$what: the archive downloads");
    my $zip = "$root/$what.zip";
    $zip =~ s/ /_/g;
    spew($zip, $res->{content});
    check_zip($zip, $what);
    return zip_entries($zip);
}

sub warnings_of {
    my ($list) = @_;
    return { map { $_->{report} => $_->{message} } @{ $list || [] } };
}

# --- the default: nothing outside the run is read, nothing blocks

my $a = run_id(1);
my ($dir_a, $sock_a) = hostile_run($a);

my $t0 = time;
is(http_req('POST', "/v1/system/check-sets/$a/exports")->{status}, 202,
   'POST of a run with links, a FIFO and a socket');
my $t = wait_status($a, 30);
check_task($t, $a, 'the hostile run');
is($t->{status}, 'COMPLETED', 'the export finishes: the FIFO did not block it');
cmp_ok(time - $t0, '<', 20, 'and in a short time');

my $w = warnings_of($t->{warnings});
like($w->{'link.json'} // '', qr/^symbolic link: not followed/,
     'a link to a file outside is a warning that says why');
like($w->{'dirlink.json'} // '', qr/^symbolic link: not followed/,
     'a link to a directory outside is a warning');
like($w->{'broken.json'} // '', qr/^symbolic link: not followed/,
     'a broken link is a warning');
like($w->{'pipe.json'} // '', qr/^not a regular file: fifo/,
     'the FIFO is a warning that says what it is');
SKIP: {
    skip 'no UNIX socket could be made here', 1 unless $sock_a;
    like($w->{'sock.ndjson'} // '', qr/^not a regular file: socket/,
         'the socket is a warning');
}
ok(!exists $w->{'tree'} && !exists $w->{'ok.json'},
   'entries that are not reports, and good reports, have no warning');
is(scalar(@{ $t->{warnings} }), $sock_a ? 5 : 4, 'no other warning');

my $e = archive($t, 'default');
is_deeply([sort keys %$e], [qw(manifest.json ok.csv ok.json)],
          'only the regular report is in the archive');
ok(!(grep { index($_, $secret) >= 0 } values %$e),
   'the secret outside the run is nowhere in the archive');
my $m = JSON::PP->new->decode($e->{'manifest.json'});
is_deeply([map { $_->{name} } @{ $m->{reports} }], ['ok.json'],
          'the manifest lists the one report');
is_deeply(warnings_of($m->{warnings}), $w,
          'the manifest has the same warnings');
like(slurp("$root/logs/error.log"),
     qr/export: task \Q$t->{id}\E of run \Q$a\E: report "link\.json".*symbolic link: not followed/,
     'error.log has the warning');

ok(-l "$root/runs" && -l "$root/store-link",
   'the source root and the store are reached through links');
my $b = run_id(2);
make_run($root, $b, { 'r.json' => '[{"b": 2}]' });
$t = json_of(http_req('POST', "/v1/system/check-sets/$b/exports"));
$t = wait_status($b);
is($t->{status}, 'COMPLETED', 'a run under a linked source root exports');
is_deeply($t->{warnings}, [], 'without a warning');
$e = archive($t, 'linked root');
is($e->{'r.json'}, '[{"b": 2}]', 'with its report');
ok(-f "$root/real-store/export-$b-$t->{id}.zip",
   'the archive is in the store the link leads to');

# --- off: links are followed, special files still left out

my $c = run_id(3);
my ($dir_c, $sock_c) = hostile_run($c);
http_req('POST', "/off/v1/system/check-sets/$c/exports");
$t = wait_status_at("/off/v1/system/check-sets/$c", 30);
is($t->{status}, 'COMPLETED', 'off: the export finishes');
$w = warnings_of($t->{warnings});
ok(!exists $w->{'link.json'}, 'off: the link to a file is followed');
like($w->{'dirlink.json'} // '', qr/^not a regular file: directory/,
     'off: a link to a directory is a directory, left out');
like($w->{'pipe.json'} // '', qr/^not a regular file: fifo/,
     'off: the FIFO is still left out');
like($w->{'broken.json'} // '', qr/^symbolic link that leads nowhere/,
     'off: a broken link is a warning');
$e = archive($t, 'off');
ok(exists $e->{'link.json'} && index($e->{'link.json'}, $secret) >= 0,
   'off: the linked file is in the archive');

# --- if_not_owner: a link is followed when it and its target share an owner

my $d = run_id(4);
my $dir_d = make_run($root, $d, { 'ok.json' => '[1]' });
symlink("$root/outside/mine.json", "$dir_d/mine.json") or die $!;
if ($> == 0) {
    symlink("$root/outside/secret.json", "$dir_d/other.json") or die $!;
    system('chown', '-h', 'nobody', "$dir_d/other.json") == 0
        or die 'chown -h failed';
} else {
    # a file of root's, linked by us
    symlink('/etc/os-release', "$dir_d/other.json") or die $!;
}
http_req('POST', "/owner/v1/system/check-sets/$d/exports");
$t = wait_status_at("/owner/v1/system/check-sets/$d", 30);
is($t->{status}, 'COMPLETED', 'if_not_owner: the export finishes');
$w = warnings_of($t->{warnings});
like($w->{'other.json'} // '', qr/^symbolic link to a file of another owner/,
     'if_not_owner: a link of another owner is left out, with a warning');
is(scalar(keys %$w), 1, 'if_not_owner: no other warning');
$e = archive($t, 'if_not_owner');
is($e->{'mine.json'}, '[{"mine": 1}]',
   'if_not_owner: a link with the owner of its target is followed');
ok(!exists $e->{'other.json'}, 'if_not_owner: the other one is not');

# --- from=: the links after it count; "runs" is a link after ROOT

my $f = run_id(5);
make_run($root, $f, { 'ok.json' => '[1]' });
http_req('POST', "/from/v1/system/check-sets/$f/exports");
$t = wait_status_at("/from/v1/system/check-sets/$f", 30);
is($t->{status}, 'FAILED',
   'from=: a link in the path after "from" fails the export');
like($t->{error}{message} // '',
     qr/cannot open the directory of run "\Q$f\E" \(a symbolic link in its path, see export_disable_symlinks\)/,
     'from=: and says why');

# from= that covers the linked root: the run directory itself is checked
my $g = run_id(6);
make_run($root, $g, { 'ok.json' => '[1]' });
http_req('POST', "/runs/v1/system/check-sets/$g/exports");
$t = wait_status_at("/runs/v1/system/check-sets/$g", 30);
is($t->{status}, 'COMPLETED', 'from= up to the linked root: the export works');
my $h = run_id(7);
make_path("$root/outside/$h");
spew("$root/outside/$h/ok.json", '[1]');
symlink("$root/outside/$h", "$root/runs/$h") or die $!;
http_req('POST', "/runs/v1/system/check-sets/$h/exports");
$t = wait_status_at("/runs/v1/system/check-sets/$h", 30);
is($t->{status}, 'FAILED',
   'from= up to the root: a run directory that is a link is refused');
http_req('POST', "/v1/system/check-sets/$h/exports");
$t = wait_status($h, 30);
is($t->{status}, 'COMPLETED',
   'without from=, a run directory that is a link is read');

stop_nginx();
done_testing();


sub spew {
    open my $fh, '>:raw', $_[0] or die "$_[0]: $!";
    print $fh $_[1];
    close $fh;
}
