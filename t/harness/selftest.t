# Self-test of the Test::Nginx::Socket stand-in in t/lib (stock nginx only).
# It uses only the public interface of the real Test::Nginx::Socket, so it
# must also pass when the real module is installed and used instead.

use Test::Nginx::Socket 'no_plan';

workers(2);
master_on();
no_shuffle();

# the real module does not define it; ours does (see README)
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

sub read_file_of ($) {
    my $f = shift;
    open my $in, '<', $f or return undef;
    local $/;
    my $s = <$in>;
    close $in;
    return $s;
}

add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    my $name = $block->name;

    if (defined $block->check_worker_pid) {
        # the body is the $pid of the worker that served the request
        my $master = read_file_of(server_root() . "/logs/nginx.pid") // '';
        chomp $master;
        my $worker = $body // '';
        chomp $worker;
        like($worker, qr/^\d+$/, "$name - worker pid in body");
        isnt($worker, $master, "$name - served by a worker, not by the master");
        my $stat = read_file_of("/proc/$worker/stat") // '';
        my ($ppid) = $stat =~ /\)\s+\S+\s+(\d+)/;
        is($ppid, $master, "$name - the worker's parent is the master");
        my $kids = 0;
        opendir my $dh, '/proc' or die;
        for my $d (grep { /^\d+$/ } readdir $dh) {
            my $s = read_file_of("/proc/$d/stat") // next;
            $kids++ if $s =~ /\)\s+\S+\s+(\d+)/ && $1 eq $master;
        }
        closedir $dh;
        is($kids, 2, "$name - workers(2) gives two worker processes");
    }

    if (defined(my $exp = $block->cb_bodies)) {
        is($body, $exp->[$req_idx], "$name - callback sees body of req $req_idx");
        is($repeated_req_idx, 0, "$name - callback repeated_req_idx (req $req_idx)");
        ok(!$dry_run, "$name - callback dry_run is false (req $req_idx)");
    }
});

run_tests();

__DATA__

=== TEST 1: return, add_header, exact headers, absent header, one-line error_code
--- config
    location = /hello {
        add_header X-Custom "custom value";
        return 200 "hello\n";
    }
--- request
GET /hello
--- error_code: 200
--- response_headers
X-Custom: custom value
Content-Type: text/plain
Content-Length: 6
!X-Absent
!Transfer-Encoding
--- response_body
hello
--- no_error_log
[error]
[alert]



=== TEST 2: POST body, more_headers, Content-Length computed like the real one
--- config
    location = /echo {
        proxy_set_header X-Body $request_body;
        proxy_set_header X-Len $content_length;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location = /back {
        return 200 "len=$http_x_len body=$http_x_body foo=$http_x_foo method=$request_method\n";
    }
--- request
POST /echo
{"a":1}
--- more_headers
X-Foo: bar
--- response_body
len=7 body={"a":1} foo=bar method=POST



=== TEST 3: must_die with a bad directive (message on stderr and error.log)
--- config
    location = /x {
        bogus_directive_for_selftest on;
    }
--- must_die
--- error_log
unknown directive "bogus_directive_for_selftest"



=== TEST 4: must_die with the expected exit code
--- http_config
    this_is_not_a_directive 1;
--- config
--- must_die: 1
--- error_log eval
qr/\[emerg\].*this_is_not_a_directive/



=== TEST 5: several requests (eval), per-request expectations and more_headers
--- config
    location = /a { return 200 "a\n"; }
    location = /b { return 404; }
    location = /c { return 201 "c=$http_x_c:$request_method\n"; }
--- request eval
["GET /a", "GET /b", "PUT /c"]
--- more_headers eval
["X-A: 1", "X-B: 2", "X-C: 3"]
--- error_code eval
[200, 404, 201]
--- response_body eval
["a\n", qr/404 Not Found/, "c=3:PUT\n"]
--- cb_bodies eval
["a\n", "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/$Test::Nginx::Util::NginxRawVersion</center>\r\n</body>\r\n</html>\r\n", "c=3:PUT\n"]



=== TEST 6: a block without --- config reuses the previous server
--- request
GET /a
--- response_body
a



=== TEST 7: workers(2) + master_on(): served by one of two worker processes
--- config
    location = /pid { return 200 "$pid\n"; }
--- request
GET /pid
--- check_worker_pid
--- response_body_like
^\d+$



=== TEST 8: chunked response (sub_filter drops Content-Length), user_files
--- config
    location = /sub {
        sub_filter 'world' 'there';
        sub_filter_types text/plain;
        alias $TEST_NGINX_HTML_DIR/hello.txt;
    }
--- user_files
>>> hello.txt
hello world
--- request
GET /sub
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- response_body
hello there



=== TEST 9: gzip + chunked binary body, decoded with response_body_filters
--- config
    location = /gz {
        gzip on;
        gzip_min_length 1;
        gzip_types text/plain;
        chunked_transfer_encoding on;
        alias $TEST_NGINX_HTML_DIR/big.txt;
    }
--- user_files eval
">>> big.txt\n" . ("0123456789" x 2000) . "\n"
--- request
GET /gz
--- more_headers
Accept-Encoding: gzip
--- response_headers
Content-Encoding: gzip
Transfer-Encoding: chunked
--- response_body_filters eval
sub {
    require IO::Uncompress::Gunzip;
    my $in = shift;
    my $out;
    IO::Uncompress::Gunzip::gunzip(\$in => \$out) or die "gunzip failed";
    return $out;
}
--- response_body eval
("0123456789" x 2000) . "\n"



=== TEST 10: HEAD has no body
--- config
    location = /h { return 200 "twelve bytes"; }
--- request
HEAD /h
--- response_headers
Content-Length: 12
--- response_body



=== TEST 11: binary static file, Content-Length framing
--- config
--- user_files eval
[["bin/data.bin", "\x00\x01\xfe\xff\r\n\r\n\x00end"]]
--- request
GET /bin/data.bin
--- response_headers
Content-Length: 12
--- response_body eval
"\x00\x01\xfe\xff\r\n\r\n\x00end"



=== TEST 12: raw_request (HTTP/1.0, no Host added by the harness)
--- config
    location = /raw { return 200 "host=[$http_host] proto=$server_protocol\n"; }
--- raw_request eval
"GET /raw HTTP/1.0\r\n\r\n"
--- response_body
host=[] proto=HTTP/1.0



=== TEST 13: pipelined requests on one connection
--- config
    location = /p1 { return 200 "one\n"; }
    location = /p2 { return 200 "two $http_connection\n"; }
--- pipelined_requests eval
["GET /p1", "GET /p2"]
--- error_code eval
[200, 200]
--- response_body eval
["one\n", "two close\n"]
--- no_error_log
[error]



=== TEST 14: error_log with qr// and strings (eval), default Host header
--- config
    location = /log { return 200 "$host\n"; }
--- request
GET /log
--- response_body
localhost
--- error_log eval
[qr/http finalize request: \d+/, 'http request line: "GET /log HTTP/1.1"']
--- no_error_log eval
qr/\[(?:error|crit|alert|emerg)\]/



=== TEST 15: main_config and http_config land in the right contexts
--- main_config
    thread_pool selftest_pool threads=2;
--- http_config
    map $uri $selftest_mapped {
        default "mapped-ok";
    }
--- config
    location = /m {
        aio threads=selftest_pool;
        return 200 "$selftest_mapped\n";
    }
--- request
GET /m
--- response_body
mapped-ok



=== TEST 16: $TEST_NGINX_* variables in config and response_body, $ServerPort in headers
--- config
    location = /env {
        add_header X-Port $server_port;
        return 200 "root=$TEST_NGINX_SERVER_ROOT port=$server_port\n";
    }
--- request
GET /env
--- response_headers
X-Port: $ServerPort
--- response_body
root=$TEST_NGINX_SERVER_ROOT port=$TEST_NGINX_SERVER_PORT



=== TEST 17: chomp filter, wait and timeout sections
--- config
    location = /nl { return 200 "no newline"; }
--- request
GET /nl
--- response_body chomp
no newline
--- wait: 0.1
--- timeout: 5



=== TEST 18: log_level section
--- log_level: warn
--- config
    location = /q { return 200 "quiet\n"; }
--- request
GET /q
--- response_body
quiet
--- no_error_log
[debug]
[info]



=== TEST 19: skip_nginx skips the given number of tests
--- skip_nginx: 3: > 0.0.1
--- config
    location = /never { return 500; }
--- request
GET /never
--- error_code: 599
--- response_body
not checked
--- error_log
not checked either



=== TEST 20: response_headers_like (value regex, anchored)
--- config
    location = /loc {
        add_header Location /v1/exports/42 always;
        return 202 "";
    }
--- request
POST /loc
{"x":1}
--- error_code: 202
--- response_headers_like
Location: /v1/exports/\d+
Content-Type: text/.*



=== TEST 21: access_log, no_access_log, grep_error_log
--- config
    location = /al { return 200 "al\n"; }
--- request
GET /al?marker=123
--- response_body
al
--- access_log
"GET /al?marker=123 HTTP/1.1" 200
--- no_access_log
"POST
--- grep_error_log eval
qr/http request line: "[^"]*"/
--- grep_error_log_out
http request line: "GET /al?marker=123 HTTP/1.1"



=== TEST 22: response_body_unlike, shutdown_error_log (checked when the server stops)
--- config
    location = /u { return 200 "fine\n"; }
--- request
GET /u
--- response_body_unlike
error
--- shutdown_error_log
exit



=== TEST 23: todo
--- todo: 2: pretend this is a known bug
--- config
    location = /todo { return 200 "x\n"; }
--- request
GET /todo
--- error_code: 599
--- response_body
y



=== TEST 24: skip_eval
--- skip_eval: 2: 1 + 1 == 2
--- config
    location = /se { return 200 "x\n"; }
--- request
GET /se
--- error_code: 599
--- response_body
y
