# Runs the cases in t/harness/expect-fail/*.tin and t/harness/expect-pass/*.tin
# with the Test::Nginx::Socket stand-in of t/lib (always, even where the real
# module is installed) and checks that every kind of check can fail, and that
# the harness reports it: non-zero exit status, "not ok" lines and the right
# diagnostics.  Each case runs in its own temporary directory with
# TEST_NGINX_RANDOMIZE=1, so it never touches t/servroot or port 1984, and we
# check that it leaves neither a server root nor an nginx process behind.

use strict;
use warnings;

use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);

my $here = dirname(abs_path(__FILE__));
my $lib  = abs_path("$here/../lib");
my $fail_dir = "$here/expect-fail";
my $pass_dir = "$here/expect-pass";

# a controlled environment: no TEST_NGINX_* from the caller except the binary
my %base_env = %ENV;
delete $base_env{$_} for grep { /^TEST_NGINX_/ && $_ ne 'TEST_NGINX_BINARY' } keys %base_env;

my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
if (!grep { -x "$_/$nginx" } split(/:/, $ENV{PATH} // ''), ($nginx =~ m{/} ? ('') : ())) {
    plan skip_all => "no nginx binary ($nginx) found";
}

my $fake_bin = tempdir(CLEANUP => 1);
write_fake_valgrind("$fake_bin/valgrind");

my $has_valgrind = grep { -x "$_/valgrind" } split /:/, $ENV{PATH} // '';

# run "perl -I t/lib CASE" in a fresh directory; returns (exit code, output, dir)
sub run_case {
    my ($file, %opt) = @_;
    my $dir = tempdir(CLEANUP => 1);
    mkdir "$dir/t" or die "mkdir: $!";
    if ($opt{setup}) {
        $opt{setup}->($dir);
    }
    my %env = (%base_env, TEST_NGINX_RANDOMIZE => 1, %{ $opt{env} || {} });

    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $r;
        chdir $dir or die "chdir $dir: $!";
        %ENV = %env;
        open STDOUT, '>&', $w or die;
        open STDERR, '>&', $w or die;
        open STDIN, '<', '/dev/null';
        setpgrp(0, 0);
        { no warnings 'exec'; exec $^X, "-I$lib", $file; }
        print STDERR "exec failed: $!\n";
        POSIX::_exit(127);
    }
    close $w;
    my $out = '';
    my $limit = $opt{time_limit} || 120;
    my $ok = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm $limit;
        local $/;
        $out = <$r> // '';
        alarm 0;
        1;
    };
    if (!$ok) {
        kill 'KILL', -$pid;
        $out .= "\n[selftest-fails: case killed after ${limit}s]\n";
    }
    close $r;
    waitpid($pid, 0);
    my $code = $? >> 8;
    $code = 255 if !$code && ($? & 127);
    return ($code, $out, $dir);
}

# nothing of the case may survive it
sub check_leftovers {
    my ($name, $dir) = @_;
    my @roots = glob("$dir/t/servroot*");
    ok(!@roots, "$name: server root removed at exit") or diag("left: @roots");
    my @procs;
    for (1 .. 50) {
        @procs = ();
        opendir my $dh, '/proc' or last;
        for my $p (grep { /^\d+$/ } readdir $dh) {
            open my $in, '<', "/proc/$p/cmdline" or next;
            my $cmd = do { local $/; <$in> } // '';
            close $in;
            $cmd =~ s/\0/ /g;
            push @procs, "$p: $cmd" if index($cmd, "$dir/") >= 0;
        }
        closedir $dh;
        last if !@procs;
        select undef, undef, undef, 0.1;
    }
    ok(!@procs, "$name: no nginx process left running") or diag(join "\n", @procs);
    for my $p (@procs) {
        my ($pid) = $p =~ /^(\d+)/;
        kill 'KILL', $pid;
    }
}

sub expect_fail {
    my ($case, $patterns, %opt) = @_;
    my $file = "$fail_dir/$case.tin";
    my ($code, $out, $dir) = run_case($file, %opt);
    my $ok = isnt($code, 0, "$case: harness exits non-zero");
    if ($opt{bail}) {
        $ok &= like($out, qr/^Bail out!/m, "$case: bails out");
    } elsif (!$opt{no_not_ok}) {
        $ok &= like($out, qr/^not ok \d+ - /m, "$case: reports \"not ok\"");
    }
    for my $pat (@$patterns) {
        $ok &= like($out, $pat, "$case: output matches $pat");
    }
    diag("---- output of $case ----\n$out") if !$ok;
    check_leftovers($case, $dir);
    return $out;
}

sub expect_pass {
    my ($case, $patterns, %opt) = @_;
    my $file = "$pass_dir/$case.tin";
    my ($code, $out, $dir) = run_case($file, %opt);
    my $ok = is($code, 0, "$case" . ($opt{label} ? " ($opt{label})" : '') . ": harness exits 0");
    $ok &= unlike($out, qr/^not ok/m, "$case: no \"not ok\"");
    for my $pat (@$patterns) {
        $ok &= like($out, $pat, "$case: output matches $pat");
    }
    diag("---- output of $case ----\n$out") if !$ok;
    check_leftovers($case, $dir);
    return $out;
}

# ---------------------------------------------------------------------------
# every kind of check can fail
# ---------------------------------------------------------------------------

expect_fail('status', [qr/^not ok \d+ - \S+ TEST 1: wrong status - status code ok$/m,
                       qr/got: '200'\n#\s+expected: '201'/]);
expect_fail('body', [qr/^not ok \d+ - .*TEST 1: wrong body - response_body - response is expected/m]);
expect_fail('body_like', [qr/^not ok \d+ - .*response_body_like - response is expected \(abc\)/m]);
expect_fail('header_value', [qr/^not ok \d+ - .*header X-Custom ok$/m]);
expect_fail('header_missing', [qr/^not ok \d+ - .*header X-Not-There ok$/m]);
expect_fail('header_absent', [qr/^not ok \d+ - .*header Content-Type not present in the raw headers$/m]);
expect_fail('headers_like', [qr/^not ok \d+ - .*header Location like ok$/m]);
expect_fail('error_log', [qr/^not ok \d+ - .*pattern "this text is never logged by nginx" should match a line in error\.log \(req 0\)$/m]);
expect_fail('error_log_eval', [qr/^not ok \d+ - .*never-\\d\+-logged.*should match a line in error\.log/m]);
expect_fail('no_error_log', [qr/^not ok \d+ - .*pattern "\[error\]" should not match any line in error\.log but matches line/m]);
expect_fail('must_die_survives', [qr/^not ok \d+ - .*die as expected$/m,
                                  qr/nginx must die but it does not/]);
expect_fail('must_die_code', [qr/^not ok \d+ - .*die with the expected exit code$/m]);
expect_fail('must_die_log', [qr/^not ok \d+ - .*"a message nginx does not print" should match a line in error\.log/m]);
expect_fail('bad_config', [qr/^not ok \d+ - .*TEST 1: broken config without must_die - nginx started$/m,
                           qr/nginx failed to start: exit status 1/,
                           qr/config:\s+\S+\/t\/servroot_\d+\/conf\/nginx\.conf/,
                           qr/unknown directive "selftest_unknown_directive"/,
                           qr/last lines of \S+error\.log/]);
expect_fail('timeout', [qr/^not ok \d+ - ERROR: client socket timed out - .*TEST 1: slow response/m,
                        qr/no data from nginx for 0\.5s/]);
expect_fail('empty_response', [qr/^not ok \d+ - .*status code ok$/m]);
expect_fail('callback', [qr/^not ok \d+ - .*json field status$/m,
                         qr/got: 'failed'\n#\s+expected: 'done'/]);
expect_fail('multi_request', [qr/^ok \d+ - .*status code ok$/m,
                              qr/^not ok \d+ - .*status code ok$/m,
                              qr/got: '404'\n#\s+expected: '200'/]);
expect_fail('pipelined', [qr/^ok \d+ - .*response_body - response is expected \(repeated req 0, req 0\)$/m,
                          qr/^not ok \d+ - .*response_body - response is expected \(repeated req 0, req 1\)$/m]);
expect_fail('chunked_body', [qr/^ok \d+ - .*header Transfer-Encoding ok$/m,
                             qr/^not ok \d+ - .*response_body - response is expected/m]);
expect_fail('head_body', [qr/^not ok \d+ - .*response_body - response is expected/m]);
expect_fail('raw_request', [qr/^not ok \d+ - .*response_body - response is expected/m]);
expect_fail('need_array', [qr/You asked for many requests, the expected results should be arrays as well/],
            bail => 1);
expect_fail('no_config_first', [qr/No '--- config' section specified/], bail => 1);
expect_fail('plan_count', [qr/planned 5 tests but ran 2/], no_not_ok => 1);
expect_fail('valgrind_errors', [qr/^not ok \d+ - .*valgrind reported memory errors$/m,
                                qr/Invalid read of size 8/,
                                qr/^ok \d+ - .*response_body - response is expected/m],
            env => { TEST_NGINX_USE_VALGRIND => 1, PATH => "$fake_bin:$ENV{PATH}",
                     FAKE_VALGRIND_ERROR => 1 });

# ---------------------------------------------------------------------------
# things that must pass
# ---------------------------------------------------------------------------

expect_pass('repeat_plan', [qr/^1\.\.12$/m, qr/\(repeated req 1, req 0\)/]);
expect_pass('tests_import', [qr/^1\.\.4$/m]);
expect_pass('load_modules', [qr/^ok \d+ - .*die as expected$/m],
            env => { TEST_NGINX_LOAD_MODULES =>
                     "/nonexistent/ngx_selftest_a.so /nonexistent/ngx_selftest_b.so" });
expect_pass('headers_like_ignored', [qr/response_headers_like is ignored because --- response_headers is present/]);
expect_pass('extension', [qr/^ok \d+ - .*X-Id via LastResponse$/m]);

{
    my $out = expect_pass('order', [qr/^# ORDER: /m], env => { TEST_NGINX_NO_SHUFFLE => 1 },
                          label => 'TEST_NGINX_NO_SHUFFLE=1');
    my ($order) = $out =~ /^# ORDER: (.*)$/m;
    is($order, '1 2 3 4 5 6 7 8', 'TEST_NGINX_NO_SHUFFLE=1 keeps the file order');

    # shuffled by default (8! orders: the chance of the sorted one is 1/40320)
    $out = expect_pass('order', [qr/^# ORDER: /m], label => 'shuffled');
    ($order) = $out =~ /^# ORDER: (.*)$/m;
    $order //= '';
    is(join(' ', sort split ' ', $order), '1 2 3 4 5 6 7 8', 'shuffled run ran every block once');
    isnt($order, '1 2 3 4 5 6 7 8', 'blocks are shuffled by default');
}

{
    # valgrind command line (recorded by the fake valgrind), with a
    # valgrind.suppress file in the current directory
    my $args_file = "$fake_bin/args.txt";
    unlink $args_file;
    expect_pass('valgrind_clean', [],
                env => { TEST_NGINX_USE_VALGRIND => 1, PATH => "$fake_bin:$ENV{PATH}",
                         FAKE_VALGRIND_ARGS => $args_file },
                setup => sub {
                    my $dir = shift;
                    open my $o, '>', "$dir/valgrind.suppress" or die;
                    close $o;
                },
                label => 'fake valgrind');
    my $args = '';
    if (open my $in, '<', $args_file) { local $/; $args = <$in>; close $in; }
    for my $opt ('-q', '--num-callers=100', '--leak-check=full',
                 '--suppressions=valgrind.suppress')
    {
        like($args, qr/^\Q$opt\E$/m, "valgrind is run with $opt");
    }
    like($args, qr{^--log-file=\S+/logs/valgrind\.%p\.log$}m, 'valgrind output goes to servroot/logs');
}

SKIP: {
    skip 'valgrind not installed', 2 if !$has_valgrind;
    # stock nginx must come out clean (master off and master on + 2 workers)
    for my $case ('valgrind_clean', 'valgrind_master') {
        expect_pass($case, [qr/^ok \d+ - .*response_body - response is expected/m],
                    env => { TEST_NGINX_USE_VALGRIND => 1 }, label => 'real valgrind',
                    time_limit => 300);
    }
}

done_testing();

sub write_fake_valgrind {
    my $path = shift;
    open my $out, '>', $path or die "cannot write $path: $!";
    print $out <<'_EOS_';
#!/usr/bin/env perl
# fake valgrind for t/harness/selftest-fails.t: records its options, can
# write an error report, then runs the program in the same process
use strict;
use warnings;
my @args = @ARGV;
my @opts;
push @opts, shift @args while @args && $args[0] =~ /^-/;
if (my $f = $ENV{FAKE_VALGRIND_ARGS}) {
    open my $o, '>>', $f or die "$f: $!";
    print $o "$_\n" for @opts;
    close $o;
}
my ($log) = map { /^--log-file=(.*)/ ? $1 : () } @opts;
if ($log && $ENV{FAKE_VALGRIND_ERROR}) {
    (my $l = $log) =~ s/%p/$$/g;
    open my $o, '>>', $l or die "$l: $!";
    print $o "==$$== Invalid read of size 8\n",
             "==$$==    at 0x4842AB: ngx_fake_function (fake.c:1)\n";
    close $o;
}
exec { $args[0] } @args or die "exec $args[0]: $!";
_EOS_
    close $out;
    chmod 0755, $path or die "chmod $path: $!";
}
