# Temporary files in a shared store: a start removes those that no live
# writer holds, and leaves those a live process holds (another nginx on
# the same store, a process holding flock); once their holder is gone,
# the workers' sweep removes them, so a stop that overlaps a start
# leaves no orphan.  A file just made, not yet locked, is left for a
# grace time.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helpers";

use Fcntl qw(:flock O_CREAT O_EXCL O_RDWR);
use File::Path qw(make_path remove_tree);
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);

use ExportTest;

sub run_id { sprintf '%08x-0000-4000-8000-%012x', 17, $_[0] }
sub api { '/v1/system/check-sets/' . $_[0] . '/exports' }

sub wait_for {
    my ($cond, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.1;
    }
    return $cond->();
}

my $big = join '', map { qq({"i": $_, "host": {"name": "esx-$_"}, "pad": "@{[ 'p' x 200 ]}"}\n) } 1 .. 120000;

# --- nginx A builds a large export into the store

my $na = start_nginx(port => 2021);
my $store = "$na->{root}/store";
my $ra = run_id(1);
make_run($na->{root}, $ra, { 'a.ndjson' => $big, 'b.ndjson' => $big });

my $ta = json_of(http_req('POST', api($ra)));
my $tmp_a = "$store/.export-$ta->{id}.1.tmp";
ok(wait_for(sub { -s $tmp_a }, 20), 'A writes its temporary archive');

# --- files of other writers, made before B starts

# held by a live process with flock(), as a build of another node holds
# its file
my $held = "$store/.export-11111111-1111-4111-8111-111111111111.tmp";
pipe(my $rd, my $wr) or die "pipe: $!";
my $holder = fork // die "fork: $!";
if ($holder == 0) {
    close $rd;
    open my $fh, '>', $held or die "$held: $!";
    flock($fh, LOCK_EX) or die "flock: $!";
    print $fh 'PK half an archive';
    $fh->flush;
    print $wr "locked\n";
    close $wr;
    sleep 600;
    POSIX::_exit(0);
}
close $wr;
is(scalar <$rd>, "locked\n", 'a process holds the lock of a temporary file');

# just made by a writer that has not locked it yet: no permission bits
my $fresh = "$store/.export-22222222-2222-4222-8222-222222222222.tmp";
sysopen(my $fh, $fresh, O_CREAT|O_EXCL|O_RDWR, 0) or die "$fresh: $!";
close $fh;
chmod 0, $fresh;

# left by a writer that is gone
my $stale = "$store/.export-33333333-3333-4333-8333-333333333333.meta";
open $fh, '>', $stale or die $!;
print $fh '{"half": ';
close $fh;

# --- nginx B starts on the same store while A builds

my $saved = $ExportTest::current;
$ExportTest::current = undef;
my $nb = start_nginx(port => 2022, store => $store);
my $rb = run_id(2);
make_run($nb->{root}, $rb, { 'r.json' => '[{"b": 1}]' });

ok(!-e $stale, 'the start removed the file whose writer is gone');
ok(-e $held, 'it left the file a live process holds');
ok(-e $fresh, 'and the file made a moment ago');
$ExportTest::current = $saved;
my $state = json_of(http_req('GET', api($ra)))->{status};
ok(-e $tmp_a || $state eq 'COMPLETED',
   "and the file A is writing (A's export is $state)");

# --- A is stopped hard in the middle of its export

$state = json_of(http_req('GET', api($ra)))->{status};
my $master = ExportTest::master_pid($na);
my @pids = ($master, map { /^\s*(\d+)/ ? $1 : () }
                     `ps -o pid= --ppid $master`);
kill 'KILL', @pids;
ok(wait_for(sub { !grep { kill 0, $_ } @pids }, 10), 'A is gone (SIGKILL)');
$ExportTest::current = $nb;
SKIP: {
    skip "A's export finished before the kill", 1 if $state eq 'COMPLETED';
    ok(!-e "$store/export-$ra-$ta->{id}.zip",
       "A's export never finished: its temporary archive is an orphan");
}

ok(wait_for(sub { !-e $tmp_a }, 30),
   "B's sweep removes A's orphan once A is gone");
ok(-e $held, 'the file the live process holds is still there');
ok(-e $fresh, 'so is the file within its grace time');

# --- B's own exports are not disturbed by its sweeps

is(http_req('POST', api($rb))->{status}, 202, 'B starts an export');
my $t = wait_status($rb);
is($t->{status}, 'COMPLETED', "B's export completes");
my $res = http_req('GET', $t->{downloadUrl});
is($res->{status}, 200, 'its archive downloads');

# --- the holder goes away; the grace time passes

kill 'KILL', $holder;
waitpid $holder, 0;
ok(wait_for(sub { !-e $held }, 30),
   'the file is removed once the process holding it is gone');

ok(-e $fresh, 'the new file is still there within its grace time');
my $old = time - 120;
utime $old, $old, $fresh;
ok(wait_for(sub { !-e $fresh }, 30),
   'and is removed once it is older than the grace time');

like(slurp("$nb->{root}/logs/error.log"),
     qr/export: zone "exports": \d+ temporary files that no export writes any more removed from the store/,
     'the sweep says what it removed');
unlike(slurp("$nb->{root}/logs/error.log"), qr/\[(alert|crit|emerg)\]/,
       'no alert in B\'s log');

stop_nginx();
done_testing();
