# Self-test of the configuration functions of the Test::Nginx::Socket
# stand-in in t/lib: what they put into the generated nginx.conf.  Uses only
# the public interface, so it also passes under the real Test::Nginx.

use Test::Nginx::Socket;

no_root_location();
no_shuffle();
worker_connections(128);
log_level('info');
timeout(7);
env_to_nginx('SELFTEST_ENV_VAR=hello');
config_preamble(<<'_EOC_');
        location = /preamble { return 200 "preamble\n"; }
_EOC_

my $cleanups = 0;
add_cleanup_handler(sub { $cleanups++ });

# blocks without --- request get one from the preprocessor
add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->request) {
        $block->set_value("request", "GET /preamble");
    }
});

sub slurp ($) {
    my $f = shift;
    open my $in, '<', $f or return '';
    local $/;
    my $s = <$in>;
    close $in;
    return $s;
}

add_response_body_check(sub {
    my ($block, $body) = @_;
    return if !defined $block->check_conf;
    my $name = $block->name;
    my $conf = slurp(server_root() . "/conf/nginx.conf");
    my $port = server_port();
    like($conf, qr/^worker_processes\s+1;$/m, "$name - one worker by default");
    my $daemon = $ENV{TEST_NGINX_USE_VALGRIND} ? 'off' : 'on';
    my $master = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
    like($conf, qr/^daemon $daemon;$/m, "$name - daemon $daemon");
    like($conf, qr/^master_process $master;$/m, "$name - master_process $master by default");
    like($conf, qr/^error_log \S+\/logs\/error\.log info;$/m, "$name - log_level('info')");
    like($conf, qr/^env SELFTEST_ENV_VAR=hello;$/m, "$name - env_to_nginx");
    like($conf, qr/worker_connections\s+128;/, "$name - worker_connections(128)");
    like($conf, qr/^\s*listen\s+$port;$/m, "$name - listen on server_port()");
    unlike($conf, qr/location \/ \{/, "$name - no_root_location()");
    if ($> == 0) {
        like($conf, qr/^user root;$/m, "$name - user root when run as root");
    } else {
        unlike($conf, qr/^user /m, "$name - no user directive when not root");
    }
    like($conf, qr/\baccept_mutex off;/, "$name - accept_mutex off");
    like($conf, qr/\bkeepalive_timeout\s+68000ms;/, "$name - keepalive_timeout");
    like($conf, qr/\bclient_max_body_size 30M;/, "$name - client_max_body_size");
    is(timeout(), 7, "$name - timeout() getter");
    is(html_dir(), server_root() . "/html", "$name - html_dir()");
    is(server_addr(), '127.0.0.1', "$name - server_addr()");
    is($ENV{TEST_NGINX_SERVER_PORT}, $port, "$name - TEST_NGINX_SERVER_PORT set");
    is($ENV{TEST_NGINX_SERVER_ROOT}, server_root(), "$name - TEST_NGINX_SERVER_ROOT set");
});

repeat_each(1);

# 2 + 17 for block 1, 2 for block 2, 3 for block 3, 1 below
plan tests => repeat_each() * (2 + 17 + 2 + 3) + 1;

run_tests();

is($cleanups, 1, "cleanup handler called once by run_tests()");

__DATA__

=== TEST 1: config_preamble, request from a block preprocessor, generated nginx.conf
--- config
--- check_conf
--- response_body
preamble



=== TEST 2: more_headers comments and Host override
--- config
    location = /h { return 200 "host=$host x=$http_x_a y=$http_x_b\n"; }
--- request
GET /h
--- more_headers
# a comment line
Host: example.com
X-A: 1
X-B: two words
--- response_body
host=example.com x=1 y=two words



=== TEST 3: user_files with a modification time, served from html/
--- config
    location = /dated.txt {
        root $TEST_NGINX_SERVER_ROOT/html;
    }
--- user_files
>>> dated.txt 201001021530.00
dated
--- request
GET /dated.txt
--- response_headers
Last-Modified: Sat, 02 Jan 2010 15:30:00 GMT
--- response_body
dated
