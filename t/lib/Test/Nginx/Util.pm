package Test::Nginx::Util;

# Minimal, self-written stand-in for the server-management half of the CPAN
# distribution Test::Nginx (openresty/test-nginx).  It is only put on @INC
# when the real module is not installed, so everything here mirrors the
# names, defaults and behaviour of the real Test::Nginx::Util for the subset
# this project uses.  Known deviations are marked "DEVIATION" below and
# listed in t/lib/Test/Nginx/README.md.

use strict;
use warnings;

our $VERSION = '0.33_local';

use base 'Exporter';

use POSIX qw(SIGQUIT SIGKILL SIGTERM WNOHANG);
use File::Spec ();
use File::Path qw(make_path remove_tree);
use List::Util qw(shuffle);
use Time::HiRes qw(sleep time);
use Scalar::Util qw(looks_like_number);
use IO::Socket::INET ();
use Carp qw(croak);
use Config ();
use Cwd ();

# ---------------------------------------------------------------------------
# configuration knobs (same names and environment variables as the real one)
# ---------------------------------------------------------------------------

our $Verbose         = $ENV{TEST_NGINX_VERBOSE};
our $LoadModules     = $ENV{TEST_NGINX_LOAD_MODULES};
our $NoShuffle       = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $UseValgrind     = $ENV{TEST_NGINX_USE_VALGRIND};
our $Timeout         = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $CheckAccumErrLog = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $NoNginxManager  = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $WorkerUser      = $ENV{TEST_NGINX_WORKER_USER};
our $ServerAddr      = '127.0.0.1';
our $ServerName      = 'localhost';
our $NoLongString;
our $RepeatEach      = 1;
our $InSubprocess;
our $FirstTime       = 1;

if (defined $WorkerUser && $WorkerUser !~ /^\w[-\w]+(?:\s+\w[-\w]+)?$/) {
    die "Bad value in the env TEST_NGINX_WORKER_USER: $WorkerUser\n";
}

our $Randomize            = $ENV{TEST_NGINX_RANDOMIZE};
our $NginxBinary          = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $Workers              = 1;
our $WorkerConnections    = 64;
our $LogLevel             = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $DaemonEnabled        = 'on';
our $ServerPort           = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient  = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort || 1984;
our $NoRootLocation       = 0;
our $TestNginxSleep       = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $ForceRestartOnTest   = defined $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST}
                            ? $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} : 1;

# Valgrind makes everything slower: the client timeout (and the time we give
# nginx to start/stop) is multiplied by this factor.  (The real module keeps
# the plain timeout; see DEVIATIONS.)
our $ValgrindSlowdown = 5;

our (@CleanupHandlers, @TestCleanupHandlers, @BlockPreprocessors, @EnvToNginx);
our ($ValgrindOwner, $ChildPid, $NextBlock, $PrevBlock, $PrevConfig, $ErrLogFilePos, $RandPorts);
our ($NginxVersion, $NginxRawVersion, $OpenSSLVersion);
our ($RunTestHelper, $CheckErrorLog, $CheckShutdownErrorLog);
our $ConfigPreamble = '';

# lines nginx printed on stderr while starting a --- must_die block; they are
# appended to what error_log_data() returns for that block (DEVIATION: the
# real module lets nginx write stderr to the terminal and only checks
# error.log; nginx >= 1.19.5 writes those messages to error.log as well
# because of the -e option, so results agree for normal configurations).
our @ExtraErrLogLines;

sub bail_out (@);
sub gen_rand_port (;$$);
sub stop_valgrind_nginx ($);
sub can_run ($);

srand $$;

if ($Randomize) {
    $ServerPort = gen_rand_port(1000);
    if (!defined $ServerPort) {
        bail_out "Cannot find an available listening port number after 1000 attempts.\n";
    }
    $ServerPortForClient = $ServerPort;
}

if ($UseValgrind) {
    # like the real one: nginx runs in the foreground under valgrind
    $DaemonEnabled = 'off';
}

our $ServRoot;
if ($Randomize) {
    $ServRoot = File::Spec->rel2abs("t/servroot_" . $ServerPort);
} else {
    $ServRoot = $ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot');
}
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = File::Spec->catfile($ServRoot, 'logs');
our $ErrLogFile = File::Spec->catfile($LogDir, 'error.log');
our $AccLogFile = File::Spec->catfile($LogDir, 'access.log');
our $HtmlDir    = File::Spec->catfile($ServRoot, 'html');
our $ConfDir    = File::Spec->catfile($ServRoot, 'conf');
our $ConfFile   = File::Spec->catfile($ConfDir, 'nginx.conf');
our $PidFile    = File::Spec->catfile($LogDir, 'nginx.pid');
our $CacheDir   = File::Spec->catfile($ServRoot, 'cache');
# where we keep nginx's stderr of the last start (not in the real module)
our $StderrFile = File::Spec->catfile($LogDir, 'nginx-start.stderr');

# DEVIATION: the real module does not define TEST_NGINX_HTML_DIR; we provide
# it (without overriding a value set by the caller) so that config sections
# can say $TEST_NGINX_HTML_DIR.  Test files meant to run under the real
# module too should do  $ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
$ENV{TEST_NGINX_HTML_DIR} //= $HtmlDir;

our @EXPORT = qw(
    expand_env_in_text env_to_nginx is_str check_accum_error_log is_running
    $NoLongString no_long_string $ServerAddr server_addr $ServerName
    server_name parse_time verbose sleep_time bail_out add_cleanup_handler
    add_test_cleanup_handler access_log_data error_log_data
    setup_server_root run_customer_init_script write_config_file
    get_canon_version get_nginx_version trim show_all_chars parse_headers
    run_tests get_pid_from_pidfile $ServerPortForClient $ServerPort
    $NginxVersion $PidFile $ServRoot $ConfFile $RunTestHelper
    $CheckErrorLog $CheckShutdownErrorLog $NoNginxManager $RepeatEach
    add_block_preprocessor timeout worker_connections workers master_on
    master_off config_preamble repeat_each master_process_enabled log_level
    no_shuffle no_root_location html_dir server_root server_port
    server_port_for_client no_nginx_manager use_hup is_tcp_port_used
);

# ---------------------------------------------------------------------------
# small public helpers
# ---------------------------------------------------------------------------

sub is_running ($) {
    my $pid = shift;
    return 0 unless $pid;
    # reap it first if it is our own (exited) child, otherwise kill 0 would
    # keep reporting a zombie as alive
    waitpid($pid, WNOHANG);
    return 0 if !kill 0, $pid;
    # an exited daemon stays a zombie until its new parent reaps it, which
    # can take a while in containers; it no longer holds any socket
    if (open my $in, '<', "/proc/$pid/stat") {
        my $stat = <$in> // '';
        close $in;
        return 0 if $stat =~ /\)\s+[ZX]\s/;
    }
    return 1;
}

sub gen_rand_port (;$$) {
    my ($tries, $used) = @_;
    $tries //= 1000;
    $used  //= {};
    for (1 .. $tries) {
        my $port = int(rand 63547) + 1988;
        next if $used->{$port};
        my $sock = IO::Socket::INET->new(
            LocalAddr => $ServerAddr,
            LocalPort => $port,
            Proto     => 'tcp',
            Listen    => 5,
            ReuseAddr => 1,
        );
        if ($sock) {
            close $sock;
            return $port;
        }
    }
    return undef;
}

# true when something is LISTENing on the TCP port (read from /proc, so that
# no probe connection shows up in nginx's error log)
sub is_tcp_port_used ($) {
    my $port = shift;
    for my $file ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $in, '<', $file or next;
        while (my $line = <$in>) {
            # sl local_address rem_address st ...
            if ($line =~ /^\s*\d+:\s+[0-9A-Fa-f]+:([0-9A-Fa-f]{4})\s+[0-9A-Fa-f]+:[0-9A-Fa-f]+\s+0A\s/) {
                if (hex($1) == $port) {
                    close $in;
                    return 1;
                }
            }
        }
        close $in;
    }
    return 0;
}

sub no_long_string () { $NoLongString = 1; }

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }
    if ($NoLongString || !eval { require Test::LongString; 1 }) {
        return Test::More::is($got, $expected, $desc);
    }
    return Test::LongString::is_string($got, $expected, $desc);
}

sub server_addr (@) {
    if (@_) { $ServerAddr = shift; return; }
    return $ServerAddr;
}

sub server_name (@) {
    if (@_) { $ServerName = shift; return; }
    return $ServerName;
}

sub timeout (@) {
    if (@_) { $Timeout = shift; return; }
    return $Timeout;
}

sub no_shuffle () { $NoShuffle = 1; }

sub no_nginx_manager () { $NoNginxManager = 1; }

sub use_hup () {
    # TEST_NGINX_USE_HUP mode is not implemented here; nginx is simply
    # restarted for every block as in the default mode.
    warn "WARNING: use_hup() is not supported by the bundled Test::Nginx "
       . "stand-in; ignored.\n";
}

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" if !@_;
    for my $v (@_) {
        if ($v !~ /^[A-Za-z_]/ || $v =~ /\n/) {
            croak "env_to_nginx: bad argument value: $v\n";
        }
        push @EnvToNginx, $v;
    }
}

sub sleep_time { return $TestNginxSleep; }

sub verbose { return $Verbose; }

sub server_port (@) {
    if (@_) { $ServerPort = shift; return; }
    return $ServerPort;
}

sub server_port_for_client (@) {
    if (@_) { $ServerPortForClient = shift; return; }
    return $ServerPortForClient;
}

sub repeat_each (@) {
    $RepeatEach = shift if @_;
    return $RepeatEach;
}

sub worker_connections (@) {
    if (@_) { $WorkerConnections = shift; return; }
    return $WorkerConnections;
}

sub no_root_location () { $NoRootLocation = 1; }

sub workers (@) {
    if (@_) { $Workers = shift; return; }
    return $Workers;
}

sub log_level (@) {
    if (@_) { $LogLevel = shift; return; }
    return $LogLevel;
}

sub check_accum_error_log () { $CheckAccumErrLog = 1; }

sub master_on ()  { $MasterProcessEnabled = 'on'; }
sub master_off () { $MasterProcessEnabled = 'off'; }

sub master_process_enabled (@) {
    if (@_) {
        $MasterProcessEnabled = shift() ? 'on' : 'off';
        return;
    }
    return $MasterProcessEnabled;
}

sub config_preamble ($) { $ConfigPreamble = shift; }

sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift; }

sub html_dir ()    { return $HtmlDir; }
sub server_root () { return $ServRoot; }

sub add_cleanup_handler ($)      { unshift @CleanupHandlers, shift; }
sub add_test_cleanup_handler ($) { unshift @TestCleanupHandlers, shift; }

sub parse_time ($) {
    my $tm = shift;
    if (defined $tm) {
        if ($tm =~ s/([^_a-zA-Z])ms$/$1/) {
            $tm = $tm / 1000;
        } else {
            $tm =~ s/([^_a-zA-Z])s$/$1/;
        }
    }
    return $tm;
}

sub trim ($) {
    my $s = shift;
    return undef if !defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /gs;
    $s =~ s/\s{2,}/ /gs;
    return $s;
}

sub show_all_chars ($) {
    my $s = shift;
    $s =~ s/\n/\\n/gs;
    $s =~ s/\r/\\r/gs;
    $s =~ s/\t/\\t/gs;
    return $s;
}

# "Name: value" lines; "!Name" means "must be absent" (value undef)
sub parse_headers ($) {
    my $s = shift;
    my %headers;
    for my $line (split /\n/, $s // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            $headers{$line} = undef;
        } else {
            my ($key, $val) = split /\s*:\s*/, $line, 2;
            $headers{$key} = $val;
        }
    }
    return \%headers;
}

sub get_canon_version (@) {
    return sprintf "%d.%03d%03d", $_[0], $_[1], $_[2];
}

sub get_nginx_version () {
    my $out = `$NginxBinary -V 2>&1`;
    if (!defined $out || $? != 0) {
        $out //= '';
        bail_out("Failed to get the version of the Nginx in PATH: $out");
    }
    if ($out =~ m{built with OpenSSL (\d+)\.(\d+)\.(\d+)}s) {
        $OpenSSLVersion = get_canon_version($1, $2, $3);
    }
    if ($out =~ m{(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)}s
        || $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)}s)
    {
        $NginxRawVersion = "$1.$2.$3";
        return get_canon_version($1, $2, $3);
    }
    bail_out("Failed to parse the output of \"nginx -V\": $out\n");
}

sub get_pid_from_pidfile ($) {
    my ($name) = @_;
    open my $in, '<', $PidFile
        or bail_out("$name - Failed to open the pid file $PidFile for reading: $!");
    my $pid = do { local $/; <$in> };
    close $in;
    $pid //= '';
    chomp $pid;
    return $pid;
}

# same as the real module: $TEST_NGINX_FOO -> $ENV{TEST_NGINX_FOO}, and
# $TEST_NGINX_RAND_PORT_N -> a free port (stable within one block)
sub expand_env_in_text ($$$) {
    my ($text, $name, $rand_ports) = @_;
    return undef if !defined $text;
    $rand_ports //= {};
    my %used = ($ServerPort => 1, map { $_ => 1 } values %$rand_ports);
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_[0-9]+$/) {
            if (!defined $rand_ports->{$var}) {
                my $p = gen_rand_port(1000, \%used);
                bail_out("$name - Cannot find an available listening port number for $var.\n")
                    if !defined $p;
                $rand_ports->{$var} = $p;
                $used{$p} = 1;
            }
            $val = $rand_ports->{$var};
        } else {
            if (!defined $ENV{$var}) {
                bail_out("$name - No environment $var defined.\n");
            }
            $val = $ENV{$var};
        }
        $val;
    }ge;
    return $text;
}

# ---------------------------------------------------------------------------
# log access
# ---------------------------------------------------------------------------

sub access_log_data () {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $AccLogFile or return [];
    my @lines = <$in>;
    close $in;
    return \@lines;
}

# the part of error.log written since the previous call (per request), like
# the real module; plus nginx's stderr for --- must_die blocks
sub error_log_data () {
    # log-phase messages are written after the response is sent
    sleep $TestNginxSleep * 3;
    my @lines;
    if (open my $in, '<', $ErrLogFile) {
        if (!$CheckAccumErrLog && $ErrLogFilePos && $ErrLogFilePos > 0) {
            seek $in, $ErrLogFilePos, 0;
        }
        @lines = <$in>;
        $ErrLogFilePos = tell($in) if !$CheckAccumErrLog;
        close $in;
    }
    if (@ExtraErrLogLines) {
        push @lines, @ExtraErrLogLines;
        @ExtraErrLogLines = ();
    }
    return \@lines;
}

sub slurp_file ($) {
    my $f = shift;
    open my $in, '<', $f or return undef;
    local $/;
    my $s = <$in>;
    close $in;
    return $s;
}

sub tail_file ($$) {
    my ($f, $n) = @_;
    my $s = slurp_file($f);
    return "(cannot read $f: $!)\n" if !defined $s;
    return "(empty)\n" if $s eq '';
    my @lines = split /^/, $s;
    @lines = @lines[-$n .. -1] if @lines > $n;
    return join '', @lines;
}

# ---------------------------------------------------------------------------
# process control
# ---------------------------------------------------------------------------

sub child_pids_of ($) {
    my $ppid = shift;
    my @kids;
    opendir my $dh, '/proc' or return ();
    for my $d (readdir $dh) {
        next unless $d =~ /^\d+$/;
        my $stat = slurp_file("/proc/$d/stat") // next;
        # pid (comm) state ppid ...
        if ($stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $ppid) {
            push @kids, $d;
        }
    }
    closedir $dh;
    return @kids;
}

# graceful stop (SIGQUIT), then SIGKILL for it and its worker processes if
# it does not go away within $wait seconds
sub kill_process ($$$;$) {
    my ($pid, $wait, $name, $max) = @_;
    return if !$pid;
    $max //= timeout();
    $max = 3 if $max < 3;
    $max *= $ValgrindSlowdown if $UseValgrind;

    if ($wait) {
        warn "sending QUIT signal to $pid\n" if $Verbose;
        kill SIGQUIT, $pid;
        my $left = $max;
        while ($left > 0 && is_running($pid)) {
            sleep 0.02;
            $left -= 0.02;
        }
    }

    if (is_running($pid)) {
        warn "$name - WARNING: nginx process $pid did not exit within ${max}s "
           . "after SIGQUIT; killing it with SIGKILL\n";
        my @kids = child_pids_of($pid);
        if (getpgrp($pid) == $pid) {
            kill SIGKILL, -$pid;
        }
        kill SIGKILL, $pid, @kids;
        for (1 .. 100) {
            last if !is_running($pid);
            sleep 0.02;
        }
    }
}

sub stop_nginx_if_running ($) {
    my $name = shift;
    my $stopped;
    if (defined $ChildPid) {
        # an nginx under valgrind kept running for a block without config
        stop_valgrind_nginx($name);
        $stopped = 1;
    }
    if (-f $PidFile) {
        my $pid = get_pid_from_pidfile($name);
        if ($pid =~ /^\d+$/ && is_running($pid)) {
            kill_process($pid, 1, $name);
            $stopped = 1;
        }
        unlink $PidFile if -f $PidFile;
    }
    return $stopped;
}

sub cleanup_test ($) {
    my $block = shift;
    $_->($block) for @TestCleanupHandlers;
}

sub cleanup () {
    $_->() for @CleanupHandlers;
    if (defined $ChildPid) {
        kill_process($ChildPid, 1, 'cleanup');
        waitpid($ChildPid, WNOHANG);
        undef $ChildPid;
    }
}

sub bail_out (@) {
    cleanup();
    stop_nginx_if_running('bail_out') if defined $PidFile;
    Test::More::BAIL_OUT(join '', @_);
}

# ---------------------------------------------------------------------------
# server root and configuration
# ---------------------------------------------------------------------------

sub setup_server_root ($) {
    my $first_time = shift;

    if (-d $ServRoot) {
        # like the real module: only remove what we created ourselves, so
        # that a mis-pointed TEST_NGINX_SERVROOT cannot wipe user data
        remove_tree($ConfDir, glob("$ServRoot/*_cache"), glob("$ServRoot/*_temp"),
                    $CacheDir, $HtmlDir, $LogDir);
        rmdir $ServRoot or !-d $ServRoot
            or bail_out("Can't remove $ServRoot (not empty?): $! -- the real "
                        . "Test::Nginx bails out here too; remove the extra "
                        . "files your test left in the server root");
    }
    for my $d ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        next if -d $d;
        mkdir $d or bail_out("Failed to do mkdir $d: $!\n");
    }

    my $index = "$HtmlDir/index.html";
    open my $out, '>', $index or bail_out("Can't open $index for writing: $!\n");
    print $out '<html><head><title>It works!</title></head><body>It works!</body></html>';
    close $out;
}

sub run_customer_init_script ($) {
    my $block = shift;
    my $name = $block->name;
    if ($block->post_setup_server_root) {
        eval $block->post_setup_server_root;
        bail_out("$name - post_setup_server_root failed: $@") if $@;
    }
}

sub write_user_files ($$) {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my $files = $block->user_files;
    return if !$files;

    if (!ref $files) {
        my @list;
        my ($fname, $body, $date);
        for my $line (split /^/, $files) {
            if ($line =~ />>> (\S+)(?:\s+(.+))?/) {
                push @list, [$fname, $body, $date] if $fname;
                ($fname, $date) = ($1, $2);
                undef $body;
            } else {
                $body .= $line;
            }
        }
        push @list, [$fname, $body, $date] if $fname;
        $files = \@list;

    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - wrong value type: ", ref $files,
                 ", only scalar or ARRAY are accepted");
    }

    for my $file (@$files) {
        my ($fname, $body, $date) = @$file;
        $body //= '';
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{(.*)/} && !-d $1) {
            make_path($1) or bail_out("$name - Cannot create directory $1");
        }
        $body = expand_env_in_text($body, $name, $rand_ports);
        open my $out, '>', $path or bail_out("$name - Cannot open $path for writing: $!\n");
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            my $cmd = "TZ=GMT touch -t '$date' '$path'";
            system($cmd) == 0 or bail_out("Failed to run shell command: $cmd\n");
        }
    }
}

sub write_config_file ($$$) {
    my ($block, $config, $rand_ports) = @_;
    my $name = $block->name;

    my $http_config      = expand_env_in_text($block->http_config, $name, $rand_ports) // '';
    my $main_config      = $block->main_config // '';
    my $post_main_config = expand_env_in_text($block->post_main_config, $name, $rand_ports) // '';
    my $server_name      = $block->server_name // $ServerName;
    my $err_log_file     = $block->error_log_file || $ErrLogFile;
    $config //= '';

    if ($LoadModules) {
        my @mods = map { "load_module $_;" } grep { length } split /\s+/, $LoadModules;
        $main_config = join ' ', @mods, $main_config if @mods;
    }
    $main_config  = expand_env_in_text($main_config, $name, $rand_ports);
    $err_log_file = expand_env_in_text($err_log_file, $name, $rand_ports);

    my $env_lines = '';
    for my $v (@EnvToNginx) {
        my $e = $v =~ /\s/ ? "'$v'" : $v;
        $env_lines .= "env $e;\n";
    }

    my %temp = (
        client_body_temp_path => "$ServRoot/client_body_temp",
        proxy_temp_path       => "$ServRoot/proxy_temp",
        fastcgi_temp_path     => "$ServRoot/fastcgi_temp",
        scgi_temp_path        => "$ServRoot/scgi_temp",
        uwsgi_temp_path       => "$ServRoot/uwsgi_temp",
    );
    my $nginx_V = nginx_V();
    my $temp_paths = '';
    for my $d (qw(client_body_temp_path proxy_temp_path fastcgi_temp_path
                  scgi_temp_path uwsgi_temp_path))
    {
        (my $mod = $d) =~ s/_temp_path$//;
        next if $mod =~ /^(fastcgi|scgi|uwsgi)$/ && $nginx_V =~ /--without-http_${mod}_module/;
        next if $http_config =~ /\b$d\b/;
        $temp_paths .= " $d $temp{$d};";
    }

    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    my $user = '';
    if (defined $WorkerUser) {
        $user = "user $WorkerUser;\n";
    } elsif ($> == 0) {
        $user = "user root;\n";
    }

    my $conf = <<"_EOC_";
worker_processes  $Workers;
daemon $DaemonEnabled;
master_process $MasterProcessEnabled;
error_log $err_log_file $LogLevel;
pid       $PidFile;
env MOCKEAGAIN_VERBOSE;
env MOCKEAGAIN;
env MOCKEAGAIN_WRITE_TIMEOUT_PATTERN;
env LD_PRELOAD;
env LD_LIBRARY_PATH;
env DYLD_INSERT_LIBRARIES;
env DYLD_FORCE_FLAT_NAMESPACE;
${env_lines}#env LUA_PATH;
#env LUA_CPATH;

$main_config

http {
    access_log $AccLogFile;$temp_paths
    #access_log off;

    default_type text/plain;
    keepalive_timeout  68000ms;

$http_config
    server {
        listen          $ServerPort;
        #placeholder
        server_name     '$server_name';

        client_max_body_size 30M;
        #client_body_buffer_size 4k;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
}

$post_main_config

#timer_resolution 100ms;

events {
    accept_mutex off;

    worker_connections  $WorkerConnections;
}
env ASAN_OPTIONS;
env MOCKNOEAGAIN_VERBOSE;
env MOCKNOEAGAIN;
$user
_EOC_

    open my $out, '>', $ConfFile or bail_out("Can't open $ConfFile for writing: $!\n");
    print $out $conf;
    close $out;
}

my $CachedNginxV;
sub nginx_V () {
    $CachedNginxV //= `$NginxBinary -V 2>&1` // '';
    return $CachedNginxV;
}

sub can_run ($) {
    my $cmd = shift;
    if ($cmd =~ m{/}) {
        return (-f $cmd && -x $cmd) ? $cmd : undef;
    }
    for my $dir (split /\Q$Config::Config{path_sep}\E/, $ENV{PATH} // '') {
        next if $dir eq '';
        my $abs = File::Spec->catfile($dir, $cmd);
        return $abs if -f $abs && -x $abs;
    }
    return undef;
}

sub check_prev_block_shutdown_error_log () {
    my $block = $PrevBlock;
    return if !defined $block;
    if (defined($block->shutdown_error_log) || defined($block->no_shutdown_error_log)) {
        $CheckShutdownErrorLog->($block, $ENV{TEST_NGINX_NO_CLEAN} ? 1 : undef);
    }
    undef $PrevBlock;
}

# ---------------------------------------------------------------------------
# starting nginx
# ---------------------------------------------------------------------------

sub nginx_cmd () {
    my @cmd = ($NginxBinary, '-e', $ErrLogFile, '-p', "$ServRoot/", '-c', $ConfFile);
    if ($UseValgrind) {
        my @vg = ('valgrind', '--num-callers=100', '-q');
        if ($UseValgrind =~ /^\d+$/) {
            push @vg, qw(--tool=memcheck --leak-check=full --keep-debuginfo=yes
                         --show-possibly-lost=no --gen-suppressions=all);
            push @vg, '--suppressions=valgrind.suppress' if -f 'valgrind.suppress';
            # DEVIATION: also suppress the few leaks of the stock nginx core
            # itself (worker processes exit without freeing them), because
            # we fail blocks on "definitely lost" reports
            my $core = write_core_suppressions();
            push @vg, "--suppressions=$core" if $core;
        } else {
            push @vg, split ' ', $UseValgrind;
        }
        # DEVIATION: the report goes to a file in servroot (one per process)
        # instead of the terminal, so that we can fail the block on errors
        push @vg, "--log-file=$LogDir/valgrind.%p.log";
        @cmd = (@vg, @cmd);
    }
    return @cmd;
}

# Leaks of the nginx core that every worker process has at exit; the
# frames must all be in the nginx binary (or be core functions), so that
# nothing allocated by a dynamic module is hidden.
sub write_core_suppressions () {
    my $bin = can_run($NginxBinary) or return undef;
    $bin = Cwd::abs_path($bin) // $bin;
    my $file = "$ConfDir/valgrind-nginx-core.supp";
    open my $out, '>', $file or return undef;
    print $out <<"_EOS_";
{
   nginx-core: the process environment (ngx_set_environment) is never freed
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   fun:ngx_set_environment
}
{
   nginx-core: the event list (ngx_epoll_init), unstripped nginx
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   fun:ngx_epoll_init
}
{
   nginx-core: the event list, stripped nginx, master_process off
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   obj:$bin
   fun:ngx_single_process_cycle
}
{
   nginx-core: the event list, stripped nginx, worker process
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   obj:$bin
   obj:$bin
   obj:$bin
   fun:ngx_spawn_process
}
_EOS_
    close $out;
    return $file;
}

# fork+exec nginx with stdout to /dev/null and stderr to $StderrFile.
# Returns the child's pid.
sub spawn_nginx ($@) {
    my ($suppress_stderr, @cmd) = @_;
    warn "command: @cmd\n" if $Verbose;
    my $pid = fork();
    if (!defined $pid) {
        bail_out("fork() failed: $!");
    }
    if ($pid == 0) {
        $InSubprocess = 1;
        setpgrp(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', ($suppress_stderr ? '/dev/null' : $StderrFile);
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        print STDERR "exec $cmd[0] failed: $!\n";
        POSIX::_exit(127);
    }
    return $pid;
}

# wait for a child for at most $secs; returns the wait status or undef
sub wait_child ($$) {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        return $? if $r == $pid;
        return -1 if $r == -1;
        return undef if time > $deadline;
        sleep 0.01;
    }
}

sub start_failure_diag ($$) {
    my ($name, $why) = @_;
    my $stderr = slurp_file($StderrFile) // '';
    my $msg = "$name - nginx failed to start: $why\n"
            . "  command: " . join(' ', nginx_cmd()) . "\n"
            . "  config:  $ConfFile\n";
    $msg .= "  ---- nginx stderr ----\n$stderr" if $stderr ne '';
    $msg .= "  ---- last lines of $ErrLogFile ----\n" . tail_file($ErrLogFile, 30);
    for my $f (sort glob("$LogDir/valgrind.*.log")) {
        $msg .= "  ---- $f ----\n" . tail_file($f, 40);
    }
    return $msg;
}

# start nginx for a normal block; returns 1 on success, or fails the test
# with diagnostics and returns 0
sub start_nginx ($) {
    my ($block) = @_;
    my $name = $block->name;
    my @cmd = nginx_cmd();
    my $slow = $UseValgrind ? $ValgrindSlowdown : 1;

    if ($UseValgrind) {
        warn "$name\n";
        my $pid = spawn_nginx(defined $block->suppress_stderr, @cmd);
        $ChildPid = $pid;
        $ValgrindOwner = $name;
        # wait until it listens (or dies)
        my $limit = 12 * $slow;
        my $deadline = time + $limit;
        while (time < $deadline) {
            if (waitpid($pid, WNOHANG) == $pid) {
                my $st = $?;
                undef $ChildPid;
                fail_start($name, "nginx (under valgrind) exited with status "
                                  . ($st >> 8) . " before listening");
                return 0;
            }
            return 1 if is_tcp_port_used($ServerPort) && -s $PidFile;
            sleep 0.05;
        }
        fail_start($name, "nginx (under valgrind) did not listen on port "
                          . "$ServerPort within ${limit}s");
        return 0;
    }

    # daemon mode: the started process forks the daemon and exits
    my $waited = 0;
    while (1) {
        my $pid = spawn_nginx(defined $block->suppress_stderr, @cmd);
        my $st = wait_child($pid, 10);
        if (!defined $st) {
            kill SIGKILL, -$pid;
            kill SIGKILL, $pid;
            waitpid($pid, 0);
            fail_start($name, "the nginx command did not return within 10s "
                              . "(is \"daemon on\" overridden?)");
            return 0;
        }
        if ($st == 0) {
            last;
        }
        my $stderr = slurp_file($StderrFile) // '';
        my $errlog = slurp_file($ErrLogFile) // '';
        if (($stderr . $errlog) =~ /Address already in use/ && $waited < 10) {
            # the previous instance may still be releasing the port
            sleep 0.2;
            $waited += 0.2;
            unlink $ErrLogFile;
            next;
        }
        # DEVIATION: the real module retries for 30s and then BAIL_OUTs the
        # whole run; we fail this block with diagnostics and go on.
        fail_start($name, "exit status " . ($st >> 8) . ($st & 127 ? " (signal " . ($st & 127) . ")" : ''));
        return 0;
    }

    my $stderr = slurp_file($StderrFile) // '';
    if ($stderr ne '') {
        # the real module lets nginx print to the terminal; show it likewise
        warn $stderr;
    }

    # the daemon writes the pid file right after forking; give it a moment
    for (1 .. 200) {
        last if -s $PidFile;
        sleep 0.01;
    }
    sleep $TestNginxSleep;
    return 1;
}

sub fail_start ($$) {
    my ($name, $why) = @_;
    Test::More::fail("$name - nginx started");
    Test::More::diag(start_failure_diag($name, $why));
}

# run the nginx command for a --- must_die block; returns (status, stderr)
sub run_must_die ($) {
    my ($block) = @_;
    my $name = $block->name;
    my @cmd = ($NginxBinary, '-e', $ErrLogFile, '-p', "$ServRoot/", '-c', $ConfFile);
    my $pid = spawn_nginx(defined $block->suppress_stderr, @cmd);
    my $st = wait_child($pid, 10 + timeout());
    if (!defined $st) {
        # it is running in the foreground: it did not die
        kill SIGQUIT, $pid;
        $st = wait_child($pid, 5);
        if (!defined $st) {
            kill SIGKILL, -$pid;
            kill SIGKILL, $pid;
            waitpid($pid, 0);
        }
        $st = 0;
    }
    my $stderr = slurp_file($StderrFile) // '';
    return ($st, $stderr);
}

# ---------------------------------------------------------------------------
# valgrind report check (DEVIATION: the real module only prints valgrind's
# output; we fail the block when the report contains errors)
# ---------------------------------------------------------------------------

our $ValgrindErrorRe = qr{
      Invalid\s+(?:read|write|free)
    | Conditional\s+jump
    | uninitialised
    | are\s+definitely\s+lost
    | Syscall\s+param
    | Mismatched\s+free
    | Source\s+and\s+destination\s+overlap
    | Process\s+terminating
}x;

sub check_valgrind_report ($) {
    my $name = shift;
    if (defined $ValgrindOwner && $ValgrindOwner ne $name) {
        $name .= " (nginx started by $ValgrindOwner)";
    }
    my @files = sort glob("$LogDir/valgrind.*.log");
    my $report = '';
    for my $f (@files) {
        my $s = slurp_file($f) // '';
        $report .= "==> $f <==\n$s" if $s =~ /\S/;
    }
    if ($report =~ $ValgrindErrorRe) {
        Test::More::fail("$name - valgrind reported memory errors");
        Test::More::diag($report);
    } elsif ($report ne '') {
        # other valgrind chatter (warnings): show it like the real one does
        warn $report;
    }
}

sub stop_valgrind_nginx ($) {
    my $name = shift;
    return if !defined $ChildPid;
    my $pid = $ChildPid;
    if (is_running($pid)) {
        kill SIGQUIT, $pid;
        my $st = wait_child($pid, 30);
        if (!defined $st) {
            warn "$name - WARNING: nginx under valgrind did not exit within 30s "
               . "after SIGQUIT; killing it\n";
            my @kids = child_pids_of($pid);
            kill SIGKILL, -$pid;
            kill SIGKILL, $pid, @kids;
            waitpid($pid, 0);
        }
    } else {
        waitpid($pid, WNOHANG);
    }
    undef $ChildPid;
    unlink $PidFile if -f $PidFile;
    check_valgrind_report($name);
}

# ---------------------------------------------------------------------------
# the main loop
# ---------------------------------------------------------------------------

sub run_tests () {
    srand($$ + int(time * 1000000));
    $NginxVersion = get_nginx_version();

    if (!defined $ENV{TEST_NGINX_SERVER_PORT}) {
        $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
    }

    if (!can_run($NginxBinary)) {
        bail_out("Cannot find the nginx executable \"$NginxBinary\" "
                 . "(set TEST_NGINX_BINARY or PATH)");
    }

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks if !$NoShuffle;

    for my $i (0 .. $#blocks) {
        my $block = $blocks[$i];
        $NextBlock = $blocks[$i + 1];
        for my $hdl (@BlockPreprocessors) {
            $hdl->($block);
        }
        $block->set_value("name", $0 . " " . $block->name);
        run_test($block);
        cleanup_test($block);
        $PrevBlock = $block;
    }
    undef $NextBlock;

    cleanup();
}

sub run_test ($) {
    my $block = shift;
    return if defined $block->SKIP;

    my $name = $block->name;
    my $first_time = $FirstTime;
    undef $FirstTime;

    my $rand_ports = {};
    $RandPorts = $rand_ports;

    my $config = expand_env_in_text($block->config, $name, $rand_ports);

    my $dry_run = 0;
    my $should_restart = 1;

    local $LogLevel = $LogLevel;
    $LogLevel = $block->log_level if $block->log_level;

    my $must_die;
    local $UseValgrind = $UseValgrind;
    local $DaemonEnabled = $DaemonEnabled;
    if (defined $block->must_die) {
        $must_die = $block->must_die;
        # like the real one, valgrind is not used for blocks that must die;
        # we also let nginx daemonize so that a config that unexpectedly
        # loads does not keep the command in the foreground
        if ($UseValgrind) {
            undef $UseValgrind;
            $DaemonEnabled = 'on';
        }
    }

    if (!defined $config) {
        if (!$NoNginxManager && !defined $PrevConfig) {
            bail_out("$name - No '--- config' section specified and could not "
                     . "get previous one. Use TEST_NGINX_NO_NGINX_MANAGER ?");
        }
        # like the real one: keep the nginx of the previous block running
        $should_restart = 0;
    } elsif ($NoNginxManager) {
        Test::More::diag("NO_NGINX_MANAGER activated: config for $name ignored");
        $should_restart = 0;
    } else {
        $should_restart = (!defined $PrevConfig || $config ne $PrevConfig
                           || $ForceRestartOnTest) ? 1 : 0;
    }

    # --- skip_nginx / skip_eval / todo
    my ($tests_to_skip, $should_skip, $skip_reason);
    if (defined(my $skip_eval = $block->skip_eval)) {
        if ($skip_eval =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            $tests_to_skip = $1;
            $skip_reason = "skip_eval";
            my $code = $2;
            $should_skip = eval $code;
            bail_out("$name - skip_eval - failed to eval the Perl code \"$code\": $@") if $@;
        }
    }
    if (defined(my $skip_nginx = $block->skip_nginx)) {
        if ($skip_nginx =~ m{^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?\s*$}) {
            $tests_to_skip = $1;
            my ($op, $v) = ($2, get_canon_version($3, $4, $5));
            $skip_reason = $6 || "nginx version $op $3.$4.$5";
            $should_skip = 1 if eval "$NginxVersion $op $v";
        } else {
            bail_out("$name - Invalid --- skip_nginx spec: $skip_nginx");
        }
    }
    $skip_reason //= "various reasons";

    my ($should_todo, $todo_reason);
    if (defined(my $todo = $block->todo)) {
        if ($todo =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            $should_todo = 1;
            $tests_to_skip = $1;
            $todo_reason = $2;
        } else {
            bail_out("$name - Invalid --- todo spec: $todo");
        }
    }
    $todo_reason //= "various reasons";

    if (!$NoNginxManager && !$should_skip && $should_restart) {
        $PrevConfig = $config;

        stop_nginx_if_running($name);
        check_prev_block_shutdown_error_log();

        setup_server_root($first_time);
        run_customer_init_script($block);
        write_user_files($block, $rand_ports);
        write_config_file($block, $config, $rand_ports);

        $ErrLogFilePos = 0;
        @ExtraErrLogLines = ();

        if (defined $must_die) {
            for my $i (0 .. $RepeatEach - 1) {
                my ($status, $stderr) = run_must_die($block);
                $ErrLogFilePos = 0;
                @ExtraErrLogLines = split /^/, $stderr;
                my $exit_code = $status >> 8;
                if ($status & 128) {
                    Test::More::fail("$name - nginx core dumped");
                } elsif ($exit_code == 127 && $stderr =~ /^exec .* failed/m) {
                    Test::More::fail("$name - failed to execute the nginx command line");
                } elsif (looks_like_number($must_die)) {
                    Test::More::is($must_die, $exit_code,
                                   "$name - die with the expected exit code");
                } else {
                    Test::More::isnt($status, 0, "$name - die as expected");
                }

                $CheckErrorLog->($block, undef, $dry_run, $i, 0);

                if ($status == 0) {
                    warn "WARNING: $name - nginx must die but it does not; killing it (req $i)\n";
                    for (1 .. 15) {
                        last if -f $PidFile;
                        sleep $TestNginxSleep;
                    }
                    stop_nginx_if_running($name);
                }
            }
            return;
        }

        if (!start_nginx($block)) {
            # diagnostics already printed; the rest of the block is skipped
            undef $PrevConfig;
            return;
        }
    }

    if ($block->init) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogFilePos = 0;
    for my $i (1 .. $RepeatEach) {
        write_user_files($block, $rand_ports) if $i > 1;

        if ($should_skip && defined $tests_to_skip) {
          SKIP: {
                Test::More::skip("$name - $skip_reason", $tests_to_skip);
                $RunTestHelper->($block, $dry_run, $i - 1);
            }
        } elsif ($should_todo) {
          TODO: {
                Test::More::todo_skip("$name - $todo_reason", $tests_to_skip);
                $RunTestHelper->($block, $dry_run, $i - 1);
            }
        } else {
            $RunTestHelper->($block, $dry_run, $i - 1);
        }
    }

    if ($UseValgrind) {
        # like the real one, nginx is stopped at the end of every block so
        # that valgrind writes its report -- except when the next block has
        # no --- config and so must run against this very server (the real
        # module would fail that block: nothing listens any more)
        my $next = $NextBlock;
        if (!(defined $next && !defined $next->config && !defined $next->SKIP)) {
            stop_valgrind_nginx($name);
        }
    }
}

sub install_signal_handlers () {
    # make Ctrl-C / prove's TERM still run the END block (stopping nginx)
    for my $sig (qw(INT TERM HUP)) {
        next if defined $SIG{$sig} && $SIG{$sig} ne '' && $SIG{$sig} ne 'DEFAULT';
        $SIG{$sig} = sub { warn "caught SIG$sig, stopping nginx\n"; exit 1; };
    }
}
install_signal_handlers();

END {
    return if $InSubprocess;
    local $?;
    cleanup();
    if (defined $PidFile && -f $PidFile) {
        my $pid = get_pid_from_pidfile('END');
        if ($pid =~ /^\d+$/ && is_running($pid)) {
            kill_process($pid, 1, "END");
        }
        unlink $PidFile;
    }
    check_prev_block_shutdown_error_log();
    if ($Randomize && defined $ServRoot && -d $ServRoot && $ServRoot =~ m{/t/servroot_\d+$}) {
        remove_tree($ServRoot);
    }
}

1;
