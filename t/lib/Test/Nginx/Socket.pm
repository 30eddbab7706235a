package Test::Nginx::Socket;

# Minimal, self-written stand-in for the CPAN module Test::Nginx::Socket
# (openresty/test-nginx).  The Makefile only puts t/lib on @INC when the real
# module is not installed, so the same t/*.t files must run unchanged under
# both: section names, exported functions, defaults and TAP test names follow
# the real module.  See t/lib/Test/Nginx/README.md for what is supported and
# for the known deviations (marked "DEVIATION" in the code).

use strict;
use warnings;
use v5.10.1;

use Test::Base -base;

our $VERSION = '0.33_local';

use POSIX qw(EAGAIN EINTR EWOULDBLOCK);
use Time::HiRes qw(sleep time);
use List::Util qw(min);
use IO::Select ();
use IO::Socket::INET ();
use HTTP::Response ();
use Digest::MD5 ();
use Digest::SHA ();
use Encode ();
use JSON::PP ();

use Test::Nginx::Util;

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests run_test repeat_each config_preamble
    worker_connections master_process_enabled no_long_string workers
    master_on master_off log_level no_shuffle no_root_location use_hup
    server_name server_addr server_root html_dir server_port
    server_port_for_client timeout no_nginx_manager check_accum_error_log
    add_block_preprocessor bail_out add_test_cleanup_handler
    add_cleanup_handler add_response_body_check
);

{ no warnings 'once'; *run_test = \&Test::Nginx::Util::run_test; }

$RunTestHelper         = \&run_test_helper;
$CheckErrorLog         = \&check_error_log;
$CheckShutdownErrorLog = \&check_shutdown_error_log;

our @ResponseBodyChecks;

# EXTENSION (not in the real module): the last parsed response (an
# HTTP::Response object) and its raw header text, set before the
# add_response_body_check() callbacks run.  Tests that must also pass under
# the real Test::Nginx must treat these as optional (they stay undef there).
our $LastResponse;
our $LastRawHeaders;

our $TotalConnectingTimeouts = 0;

sub value_contains ($$);

sub add_response_body_check ($) {
    push @ResponseBodyChecks, shift;
}

# ---------------------------------------------------------------------------
# building requests
# ---------------------------------------------------------------------------

# "Name: value" lines of --- more_headers -> ("Name: value\r\n"..., chunked?)
sub parse_more_headers ($) {
    my ($in) = @_;
    my ($out, $is_chunked) = ('', undef);
    for my $header (split /\n+/, $in // '') {
        next if $header =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $header, 2;
        $val //= '';
        $is_chunked = 1 if lc($key) eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $is_chunked);
}

# "METHOD [URI [VERSION]]\n[body]" -> the raw HTTP request, with the same
# default headers as the real module (Host, Connection, Content-Length)
sub build_request ($$$$$) {
    my ($name, $more_headers, $is_chunked, $conn_header, $request) = @_;

    $request //= '';
    my ($first, $content);
    if ($request =~ /\A([^\n]*\n?)(.*)\z/s) {
        ($first, $content) = ($1, $2);
    }
    if (!defined $first || $first eq '') {
        bail_out("$name - Request line should be non-empty");
    }

    my ($meth, $url, $ver);
    if ($first =~ /^\s*(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/) {
        ($meth, $url, $ver) = ($1, $2, $3);
    } else {
        bail_out("$name - Request line is not valid. Should be 'meth [url [version]]' "
                 . "but got \"$first\".");
    }
    $url //= '/';
    $ver //= 'HTTP/1.1';

    my $len_header = '';
    if (!$is_chunked && $content ne '' && $more_headers !~ /(?:^|\n)Content-Length:/) {
        # same as the real module: the body is trimmed when we compute the
        # Content-Length ourselves
        $content =~ s/^\s+|\s+$//gs;
        $len_header = "Content-Length: " . length($content) . "\r\n";
    }

    $more_headers =~ s/(?<!\r)\n/\r\n/gs;

    my $headers = '';
    $headers .= "Host: $ServerName\r\n" if $more_headers !~ /(?:^|\n)Host:/msi;
    $headers .= "Connection: $conn_header\r\n" if $more_headers !~ /(?:^|\n)Connection/msi;
    $headers .= "$more_headers$len_header\r\n";

    return "$meth $url $ver\r\n$headers$content";
}

sub headers_for_req ($$$) {
    my ($name, $more_headers, $i) = @_;
    if (ref $more_headers eq 'ARRAY') {
        my $h = $more_headers->[$i];
        bail_out("--- more_headers lacks data for the ${i}th request") if !defined $h;
        return parse_more_headers($h);
    }
    return parse_more_headers($more_headers);
}

sub warn_unexpanded ($$) {
    my ($name, $text) = @_;
    return if !defined $text || ref $text;
    if ($text =~ /\$(TEST_NGINX_[_A-Z0-9]+)/) {
        warn "WARNING: $name - \$$1 is not expanded in --- request "
           . "(the real Test::Nginx does not expand it there either)\n";
    }
}

# list of requests; each request is a list of packets {value => ..., delay_before => ...}
sub get_req_from_block ($) {
    my ($block) = @_;
    my $name = $block->name;
    my @req_list;

    if (defined $block->raw_request) {
        my $rr = $block->raw_request;
        if (ref $rr && ref $rr eq 'ARRAY') {
            push @req_list, [map { ref $_ eq 'HASH' ? $_ : { value => $_ } } @$rr];
        } else {
            push @req_list, [{ value => $rr }];
        }
        return \@req_list;
    }

    my $more_headers = $block->more_headers || '';

    if ($block->pipelined_requests) {
        my $reqs = $block->pipelined_requests;
        if (!ref $reqs || ref $reqs ne 'ARRAY') {
            bail_out("$name - invalid entries in --- pipelined_requests");
        }
        my $all = '';
        for my $i (0 .. $#$reqs) {
            my $r = expand_env_in_text($reqs->[$i], $name, $Test::Nginx::Util::RandPorts);
            my ($hdr, $chunked) = headers_for_req($name, $more_headers, $i);
            $all .= build_request($name, $hdr, $chunked,
                                  $i == $#$reqs ? 'close' : 'keep-alive', $r);
        }
        push @req_list, [{ value => $all }];
        return \@req_list;
    }

    my $request = $block->request;
    if (defined $request && !ref $request) {
        # leading comments and blank space are ignored, as in the real one
        1 while $request =~ s/^\s*\#[^\n]+\s+|^\s+//gs;
    }

    if (!ref $request) {
        warn_unexpanded($name, $request);
        my ($hdr, $chunked) = headers_for_req($name, $more_headers, 0);
        push @req_list, [{ value => build_request($name, $hdr, $chunked, 'close', $request) }];

    } elsif (ref $request eq 'ARRAY') {
        my $i = 0;
        for my $one (@$request) {
            my ($hdr, $chunked) = headers_for_req($name, $more_headers, $i);
            if (!ref $one) {
                warn_unexpanded($name, $one);
                push @req_list, [{ value => build_request($name, $hdr, $chunked, 'close', $one) }];
            } else {
                # DEVIATION: requests given as arrays of packets (with delays)
                # are not supported by this stand-in
                bail_out("$name - requests split into packets are not supported by the "
                         . "bundled Test::Nginx stand-in; use --- raw_request");
            }
            $i++;
        }

    } else {
        bail_out("$name - invalid ---request : MUST be string or array of requests");
    }

    return \@req_list;
}

# ---------------------------------------------------------------------------
# the HTTP client
# ---------------------------------------------------------------------------

sub nginx_seems_dead () {
    if (defined $Test::Nginx::Util::ChildPid) {
        return !is_running($Test::Nginx::Util::ChildPid);
    }
    return 0 if $Test::Nginx::Util::NoNginxManager;
    # we start nginx ourselves and wait for its pid file; none means it is
    # gone (or was stopped, e.g. under valgrind)
    return 1 if !-f $PidFile;
    my $pid = eval { get_pid_from_pidfile('') };
    return 0 if !$pid || $pid !~ /^\d+$/;
    return !is_running($pid);
}

sub send_request ($$$$@) {
    my ($req, $middle_delay, $timeout, $block) = @_;
    my $name = $block->name;

    my @bits = map { {%$_} } (ref $req ? @$req : ({ value => $req }));
    my $head_req = (join '', map { $_->{value} } @bits) =~ /^\s*HEAD\s+/ ? 1 : 0;

    my $addr = $block->server_addr_for_client // $ServerAddr;
    my $port = $ServerPortForClient;

    my ($sock, $err);
    my $total_tries = $TotalConnectingTimeouts ? 20 : 50;
    for (my $tries = 1; ; $tries++) {
        $sock = IO::Socket::INET->new(
            PeerAddr => $addr,
            PeerPort => $port,
            Proto    => 'tcp',
            Timeout  => $timeout,
        );
        last if $sock;
        $err = $!;

        if (nginx_seems_dead()) {
            Test::More::fail("$name - Can't connect to $addr:$port: $err (nginx is not running)\n");
            Test::More::diag("last lines of $Test::Nginx::Util::ErrLogFile:\n"
                             . Test::Nginx::Util::tail_file($Test::Nginx::Util::ErrLogFile, 20));
            return (undef, $head_req);
        }
        last if $tries > $total_tries;

        my $s = sleep_time();
        my $wait = ($s + $s * $tries) * $tries / 2;
        $wait = 1 if $wait > 1;
        if ($wait >= 0.6) {
            warn "$name - Can't connect to $addr:$port: $err\n\tRetry connecting after $wait sec\n";
        }
        sleep $wait;
    }

    if (!$sock) {
        $TotalConnectingTimeouts++;
        Test::More::fail("$name - Can't connect to $addr:$port: $err (aborted)\n");
        return (undef, $head_req);
    }

    local $SIG{PIPE} = 'IGNORE';
    $sock->blocking(0);

    my $sel = IO::Select->new($sock);
    my $resp = '';
    my $cur = shift @bits;
    my $wbuf = $cur->{value} // '';
    my $woff = 0;
    my $writing = 1;
    my $done;

    while (!$done) {
        $! = 0;
        my ($r, $w) = IO::Select->select($sel, $writing ? $sel : undef, undef, $timeout);
        if (!$r && !$w) {
            next if $! == EINTR;
            close $sock;
            if (!defined $block->abort) {
                Test::More::fail("ERROR: client socket timed out - $name\n");
                Test::More::diag("$name - no data from nginx for ${timeout}s "
                                 . ($writing ? "while sending the request" : "while reading the response")
                                 . " (" . length($resp) . " response bytes received so far); "
                                 . "use --- timeout or TEST_NGINX_TIMEOUT for slow handlers");
            } else {
                sleep 0.005;
            }
            return ($resp, $head_req);
        }

        if ($w && @$w) {
          WRITE: while ($writing) {
                my $rest = length($wbuf) - $woff;
                if ($rest > 0) {
                    my $n = syswrite($sock, $wbuf, $rest, $woff);
                    if (!defined $n) {
                        last WRITE if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                        # DEVIATION: the real client gives up on the socket
                        # here; we still read what nginx answered (e.g. 413)
                        warn "WARNING: $name - write failed: $!\n";
                        $writing = 0;
                        last WRITE;
                    }
                    $woff += $n;
                    next WRITE;
                }
                $cur = shift @bits;
                if (!$cur) {
                    $writing = 0;
                    my $shutdown = $block->shutdown;
                    if (defined $shutdown) {
                        $shutdown = 1 if $shutdown =~ /^\s*$/s;
                        shutdown($sock, $shutdown);
                    }
                    last WRITE;
                }
                my $delay = $cur->{delay_before} // $middle_delay;
                sleep $delay if $delay;
                ($wbuf, $woff) = ($cur->{value} // '', 0);
            }
        }

        if ($r && @$r) {
            while (1) {
                my $buf;
                my $n = sysread($sock, $buf, 65536);
                if (!defined $n) {
                    last if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                    warn "WARNING: $name - HTTP response read failure: $!\n"
                        unless $resp ne '' && $!{ECONNRESET};
                    $done = 1;
                    last;
                }
                if ($n == 0) {
                    $done = 1;
                    last;
                }
                $resp .= $buf;
            }
        }
    }

    close $sock;
    return ($resp, $head_req);
}

# raw response -> (HTTP::Response, raw header text, bytes left after it)
sub parse_response ($$$) {
    my ($name, $raw_resp, $head_req) = @_;

    my $left;
    my $raw_headers = '';
    if ($raw_resp =~ /(.*?\r\n)\r\n/s) {
        $raw_headers = $1;
    }

    my $res = HTTP::Response->parse($raw_resp);
    my $code = $res->code;
    if (defined $code && $code !~ /^\d+$/) {
        undef $code;
        $res->code(undef);
    }

    return ($res, $raw_headers) if $code && ($code == 304 || $code == 101);

    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    my @trailers = $res->header('Trailer');

    if ($head_req) {
        # no body follows a HEAD response whatever the headers say
        my $raw = $res->content // '';
        $left = $raw if $raw ne '';
        $res->content('');
        return ($res, $raw_headers, $left);
    }

    if (defined $enc && $enc eq 'chunked') {
        my $raw = $res->content // '';
        my $decoded = '';
        pos($raw) = 0;
        while (1) {
            if ($raw =~ /\G0[ \t]*\r\n/gc) {
                for my $t (@trailers) {
                    if ($raw !~ /\G\Q$t\E:[^\n]*\r\n/gc) {
                        Test::More::fail("$name - invalid trailer data received (expected $t).");
                        return;
                    }
                }
                # other (undeclared) trailer lines
                1 while $raw =~ /\G[^\r\n]+\r\n/gc;
                if ($raw !~ /\G\r\n/gc) {
                    Test::More::fail("$name - invalid chunked data received (expected CRLF after the last chunk).");
                    return;
                }
                $left = $1 if $raw =~ /\G(.+)/gcs;
                last;
            }
            if ($raw =~ /\G[ \t]*([A-Fa-f0-9]+)[ \t]*(?:;[^\r\n]*)?\r\n/gc) {
                my $size = hex $1;
                my $at = pos($raw);
                if (length($raw) - $at < $size) {
                    Test::More::fail("$name - invalid chunked data received "
                                     . "(not enough octets for the data section)");
                    return;
                }
                $decoded .= substr($raw, $at, $size);
                pos($raw) = $at + $size;
                if ($raw !~ /\G\r\n/gc) {
                    Test::More::fail("$name - invalid chunked data received (expected CRLF).");
                    return;
                }
            } elsif ($raw =~ /\G(.+)/gcs) {
                Test::More::fail("$name - invalid chunked body received: $1");
                return;
            } else {
                Test::More::fail("$name - no last chunk found - $raw");
                return;
            }
        }
        $res->content($decoded);

    } elsif (defined $len && $len ne '' && $len =~ /^\d+$/) {
        my $raw = $res->content // '';
        if (length $raw < $len) {
            warn "WARNING: $name - response body truncated: $len expected, but got ",
                 length $raw, "\n";
        } elsif (length $raw > $len) {
            $left = substr $raw, $len;
            $res->content(substr $raw, 0, $len);
        }
    }

    return ($res, $raw_headers, $left);
}

# ---------------------------------------------------------------------------
# running one block
# ---------------------------------------------------------------------------

sub run_test_helper ($$) {
    my ($block, $dry_run, $repeated_req_idx) = @_;
    my $name = $block->name;

    my $r_req_list = get_req_from_block($block);
    bail_out("$name - request empty") if !@$r_req_list;

    if (defined $block->response_headers && defined $block->response_headers_like) {
        # like the real module, response_headers_like is NOT checked when
        # response_headers is present; say so instead of silently dropping it
        warn "WARNING: $name - --- response_headers_like is ignored because "
           . "--- response_headers is present (same as the real Test::Nginx); "
           . "put the header checks in one of the two sections\n";
    }

    my $timeout = parse_time($block->timeout);
    $timeout = timeout() if !defined $timeout;
    $timeout *= $Test::Nginx::Util::ValgrindSlowdown if $Test::Nginx::Util::UseValgrind;

    my $res;
    my $req_idx = 0;
    my $need_array;

    for my $i (0 .. $#$r_req_list) {
        my $one_req = $r_req_list->[$i];
        my ($raw_resp, $head_req);
        if ($dry_run) {
            $raw_resp = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        } else {
            ($raw_resp, $head_req) = send_request($one_req, $block->raw_request_middle_delay,
                                                  $timeout, $block);
        }

        my $n = 0;
        if ($block->pipelined_requests) {
            $n = @{ $block->pipelined_requests };
            $need_array = 1;
        } else {
            $need_array = $#$r_req_list > 0;
        }

        while (1) {
            $raw_resp //= '';
            my ($raw_headers, $left);

            if (!defined $block->ignore_response) {
                ($res, $raw_headers, $left) = parse_response($name, $raw_resp, $head_req);
            }

            if (!$n) {
                if (defined $left && $left ne '') {
                    (my $l = $left) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                    warn "WARNING: $name - unexpected extra bytes after last chunk in "
                       . "response: \"$l\"\n";
                }
            } else {
                $raw_resp = $left;
                $n--;
            }

            if (!defined $block->ignore_response) {
                $LastResponse = $res;
                $LastRawHeaders = $raw_headers;
                check_error_code($block, $res, $dry_run, $req_idx, $need_array);
                check_raw_response_headers($block, $raw_headers, $dry_run, $req_idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $dry_run, $req_idx, $need_array);
                transform_response_body($block, $res, $req_idx);
                check_response_body($block, $res, $dry_run, $req_idx, $repeated_req_idx,
                                    $need_array);
            }

            if ($n || $req_idx < @$r_req_list - 1) {
                sleep($block->wait) if $block->wait;
                check_error_log($block, $res, $dry_run, $repeated_req_idx, $need_array);
                check_access_log($block, $dry_run, $repeated_req_idx)
                    if !defined $block->ignore_response;
            }

            $req_idx++;
            last if !$n;
        }
    }

    sleep($block->wait) if $block->wait;

    check_error_log($block, $res, $dry_run, $repeated_req_idx, $need_array);
    check_access_log($block, $dry_run, $repeated_req_idx)
        if !defined $block->ignore_response;
}

# the value of a check section for request number $req_idx
sub get_indexed_value ($$$$) {
    my ($name, $value, $req_idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$req_idx] if ref $value && ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results should be "
                 . "arrays as well.");
    }
    if (ref $value && ref $value eq 'ARRAY') {
        bail_out("$name - SHOULD NOT HAPPEN: idx != 0 and don't need array.") if $req_idx != 0;
        return $value->[0];
    }
    return $value;
}

sub check_error_code ($$$$$) {
    my ($block, $res, $dry_run, $req_idx, $need_array) = @_;
    my $name = $block->name;
  SKIP: {
        skip "$name - tests skipped due to $dry_run", 1 if $dry_run;
        my $got = ($res && $res->code) || '';
        if (defined $block->error_code_like) {
            my $val = get_indexed_value($name, $block->error_code_like, $req_idx, $need_array);
            like($got, qr/$val/sm, "$name - status code ok");
        } elsif (defined $block->error_code) {
            is($got, get_indexed_value($name, $block->error_code, $req_idx, $need_array),
               "$name - status code ok");
        } else {
            is($got, 200, "$name - status code ok");
        }
    }
}

sub check_raw_response_headers ($$$$$) {
    my ($block, $raw_headers, $dry_run, $req_idx, $need_array) = @_;
    my $name = $block->name;
    $raw_headers //= '';
    if (defined $block->raw_response_headers_like) {
      SKIP: {
            skip "$name - raw_response_headers_like - tests skipped due to $dry_run", 1 if $dry_run;
            my $exp = get_indexed_value($name, $block->raw_response_headers_like, $req_idx,
                                        $need_array);
            like($raw_headers, qr/$exp/s, "$name - raw resp headers like");
        }
    }
    if (defined $block->raw_response_headers_unlike) {
      SKIP: {
            skip "$name - raw_response_headers_unlike - tests skipped due to $dry_run", 1 if $dry_run;
            my $exp = get_indexed_value($name, $block->raw_response_headers_unlike, $req_idx,
                                        $need_array);
            unlike($raw_headers, qr/$exp/s, "$name - raw resp headers unlike");
        }
    }
}

sub check_response_headers ($$$$$$) {
    my ($block, $res, $raw_headers, $dry_run, $req_idx, $need_array) = @_;
    my $name = $block->name;
    $raw_headers //= '';

    if (defined $block->response_headers) {
        my $headers = parse_headers(get_indexed_value($name, $block->response_headers,
                                                      $req_idx, $need_array));
        for my $key (sort keys %$headers) {
            my $val = $headers->{$key};
            if (!defined $val) {
              SKIP: {
                    skip "$name - response_headers - tests skipped due to $dry_run", 1 if $dry_run;
                    unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                           "$name - header $key not present in the raw headers");
                }
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $actual = $res ? $res->header($key) : undef;
            $actual //= '';
          SKIP: {
                skip "$name - response_headers - tests skipped due to $dry_run", 1 if $dry_run;
                is($actual, $val, "$name - header $key ok");
            }
        }

    } elsif (defined $block->response_headers_like) {
        my $headers = parse_headers(get_indexed_value($name, $block->response_headers_like,
                                                      $req_idx, $need_array));
        for my $key (sort keys %$headers) {
            my $val = $headers->{$key} // '';
            my $actual = $res ? $res->header($key) : undef;
            $actual //= '';
          SKIP: {
                skip "$name - response_headers_like - tests skipped due to $dry_run", 1 if $dry_run;
                like($actual, qr/^$val$/, "$name - header $key like ok");
            }
        }
    }
}

sub run_filter_helper ($$$) {
    my ($block, $filter, $content) = @_;
    my $name = $block->name;
    if (ref $filter && ref $filter eq 'CODE') {
        return $filter->($content);
    }
    if (ref $filter) {
        bail_out("$name - the --- response_body_filters section only supports subroutine "
                 . "reference values and string values");
    }
    my %f = (
        md5_hex  => sub { Digest::MD5::md5_hex($_[0]) },
        sha1_hex => sub { Digest::SHA::sha1_hex($_[0]) },
        uc       => sub { uc $_[0] },
        lc       => sub { lc $_[0] },
        ucfirst  => sub { ucfirst $_[0] },
        lcfirst  => sub { lcfirst $_[0] },
        length   => sub { length $_[0] },
    );
    my $code = $f{$filter}
        or bail_out("$name - unknown filter, \"$filter\", specified in the "
                    . "--- response_body_filters section");
    return $code->($content);
}

sub transform_response_body ($$$) {
    my ($block, $res, $req_idx) = @_;
    return if !defined $res;
    my $content = $res->content;
    return if !defined $content;
    my $filters = $block->response_body_filters;
    return if !defined $filters;

    my $name = $block->name;
    if (!ref $filters) {
        $filters =~ s/^\s+|\s+$//gs;
        $filters = [split /\s+/, $filters];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }
    my $list = $filters;
    if (ref $filters->[0] eq 'ARRAY') {
        $list = $filters->[$req_idx];
        bail_out("$name - the ---response_body_filters two-dimensional array unmatch the "
                 . "specified request($req_idx)") if !defined $list;
    }
    $list = [$list] if ref $list ne 'ARRAY';
    $content = run_filter_helper($block, $_, $content) for @$list;
    $res->content($content);
}

sub check_response_body ($$$$$$) {
    my ($block, $res, $dry_run, $req_idx, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->response_body || defined $block->response_body_eval) {
        my $content = $res ? $res->content : undef;
        if (defined $content) {
            $content =~ s/^TE: deflate,gzip;q=0\.3\r\n//gms;
            $content =~ s/^Connection: TE, close\r\n//gms;
        }

        if (defined $block->response_body_json_sort) {
            my $js = JSON::PP->new->canonical(1);
            my $obj;
            if (eval { $obj = $js->loose(1)->decode($content); 1 }) {
                $content = $js->encode($obj) . "\n";
            }
        }

        my $expected;
        if ($block->response_body_eval) {
            diag "$name - response_body_eval is DEPRECATED. Use response_body eval instead.";
            $expected = eval get_indexed_value($name, $block->response_body_eval, $req_idx,
                                               $need_array);
            warn $@ if $@;
        } else {
            $expected = get_indexed_value($name, $block->response_body, $req_idx, $need_array);
        }

        Encode::from_to($expected, 'UTF-8', $block->charset) if $block->charset;

        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $expected = expand_env_in_text($expected, $name, $Test::Nginx::Util::RandPorts);
        }

      SKIP: {
            skip "$name - response_body - tests skipped due to $dry_run", 1 if $dry_run;
            if (ref $expected) {
                like($content, $expected,
                     "$name - response_body - like (repeated req $repeated_req_idx, req $req_idx)");
            } else {
                is_str($content, $expected,
                       "$name - response_body - response is expected (repeated req "
                       . "$repeated_req_idx, req $req_idx)");
            }
        }

    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my ($patterns, $type, $cmp);
        if (defined $block->response_body_like) {
            ($patterns, $type, $cmp) = ($block->response_body_like, 'like', \&like);
        } else {
            ($patterns, $type, $cmp) = ($block->response_body_unlike, 'unlike', \&unlike);
        }
        my $content = $res ? $res->content : undef;
        if (defined $content) {
            $content =~ s/^TE: deflate,gzip;q=0\.3\r\n//gms;
            $content =~ s/^Connection: TE, close\r\n//gms;
        }
        my $pat = get_indexed_value($name, $patterns, $req_idx, $need_array);
        if (!ref $pat) {
            $pat =~ s/\$ServerPort\b/$ServerPort/g;
            $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }
        my $summary = trim($content) // '';
      SKIP: {
            skip "$name - response_body_$type - tests skipped due to $dry_run", 1 if $dry_run;
            $cmp->($content, qr/$pat/s, "$name - response_body_$type - response is expected ($summary)");
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, ($res ? $res->content : undef), $req_idx, $repeated_req_idx, $dry_run);
    }
}

# ---------------------------------------------------------------------------
# log checks
# ---------------------------------------------------------------------------

sub fmt_str ($) {
    my $str = shift;
    chomp $str;
    $str =~ s/"/\\"/g;
    $str =~ s/\r/\\r/g;
    $str =~ s/\n/\\n/g;
    return $str;
}

sub value_contains ($$) {
    my ($val, $pat) = @_;
    return 0 if !defined $val;
    if (!ref $val || ref $val eq 'Regexp') {
        return $val =~ /\Q$pat\E/;
    }
    if (ref $val eq 'ARRAY') {
        for my $v (@$val) {
            return 1 if value_contains($v, $pat);
        }
    }
    return 0;
}

# a section value (lines, qr//, or array of strings/qr//) -> fresh list of patterns
sub pattern_list ($) {
    my $pats = shift;
    if (!ref $pats) {
        chomp $pats;
        return [split /\n+/, $pats];
    }
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats];
}

sub line_matches ($$) {
    my ($line, $pat) = @_;
    return (ref $pat && $line =~ /$pat/) || $line =~ /\Q$pat\E/;
}

# every pattern must match some line: one pass/fail per pattern
sub check_must_match ($$$$$$$) {
    my ($name, $section, $file, $pats, $lines, $dry_run, $suffix) = @_;
    $pats = pattern_list($pats);
    for my $line (@$lines) {
        for my $pat (@$pats) {
            next if !defined $pat;
            if (line_matches($line, $pat)) {
              SKIP: {
                    skip "$name - $section - tests skipped due to $dry_run", 1 if $dry_run;
                    pass("$name - pattern \"$pat\" matches a line in $file$suffix");
                }
                undef $pat;
            }
        }
    }
    for my $pat (@$pats) {
        next if !defined $pat;
      SKIP: {
            skip "$name - $section - tests skipped due to $dry_run", 1 if $dry_run;
            fail("$name - pattern \"$pat\" should match a line in $file$suffix");
        }
    }
}

# no pattern may match: a fail per matching line, a pass per clean pattern
sub check_must_not_match ($$$$$$$) {
    my ($name, $section, $file, $pats, $lines, $dry_run, $suffix) = @_;
    $pats = pattern_list($pats);
    my %found;
    for my $i (0 .. $#$lines) {
        my $line = $lines->[$i];
        for my $pat (@$pats) {
            next if !defined $pat;
            next if !line_matches($line, $pat);
            $found{$pat} = 1;
          SKIP: {
                skip "$name - $section - tests skipped due to $dry_run ($line)", 1 if $dry_run;
                my @more;
                for (my $j = $i + 1; $j < min($i + 10, @$lines - 1); $j++) {
                    push @more, $lines->[$j];
                }
                fail("$name - pattern \"" . fmt_str($pat) . "\" should not match any line in "
                     . "$file but matches line \"" . fmt_str($line) . "\"$suffix\n"
                     . join '', @more);
            }
        }
    }
    for my $pat (@$pats) {
        next if !defined $pat || $found{$pat};
      SKIP: {
            skip "$name - $section - tests skipped due to $dry_run", 1 if $dry_run;
            pass("$name - pattern \"" . fmt_str($pat) . "\" does not match a line in $file$suffix");
        }
    }
}

sub check_access_log ($$$) {
    my ($block, $dry_run, $repeated_req_idx) = @_;
    my $name = $block->name;
    my $lines;
    if (defined $block->access_log) {
        $lines ||= access_log_data();
        check_must_match($name, 'access_log', 'access.log', $block->access_log, $lines,
                         $dry_run, " (req $repeated_req_idx)");
    }
    if (defined $block->no_access_log) {
        $lines ||= access_log_data();
        check_must_not_match($name, 'no_access_log', 'access.log', $block->no_access_log,
                             $lines, $dry_run, " (req $repeated_req_idx)");
    }
}

sub check_error_log ($$$$$) {
    my ($block, $res, $dry_run, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;
    my $lines;

    my %warn_on = (alert => 1, crit => 1, emerg => 1);

    my $grep_pats = $block->grep_error_log;
    my $grep_pat;
    if (defined $grep_pats) {
        $grep_pat = (ref $grep_pats && ref $grep_pats eq 'ARRAY')
                    ? $grep_pats->[$repeated_req_idx] : $grep_pats;
    } elsif (defined $block->grep_error_log_out) {
        bail_out("$name - No --- grep_error_log defined but --- grep_error_log_out is defined");
    }

    if (defined $grep_pat) {
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined")
            if !defined $expected;
        $expected = expand_env_in_text($expected, $name, $Test::Nginx::Util::RandPorts)
            if !ref $expected;
        $expected = $expected->[$repeated_req_idx] if ref $expected eq 'ARRAY';
      SKIP: {
            skip "$name - error_log - tests skipped due to $dry_run", 1 if $dry_run;
            $lines ||= error_log_data();
            my $matched = '';
            for my $line (@$lines) {
                if ((ref $grep_pat && $line =~ /$grep_pat/) || $line =~ /\Q$grep_pat\E/) {
                    my $m = $&;
                    $matched .= "$m\n" if $m !~ /\n/;
                }
            }
            if (ref $expected eq 'Regexp') {
                like($matched, $expected, "$name - grep_error_log_out (req $repeated_req_idx)");
            } else {
                is_str($matched, $expected, "$name - grep_error_log_out (req $repeated_req_idx)");
            }
        }
    }

    for my $section (qw(error_log no_error_log)) {
        my $pats = $block->$section;
        next if !defined $pats;
        for my $level (keys %warn_on) {
            delete $warn_on{$level} if value_contains($pats, "[$level");
        }
        $lines ||= error_log_data();
        if ($section eq 'error_log') {
            check_must_match($name, 'error_log', 'error.log', $pats, $lines, $dry_run,
                             " (req $repeated_req_idx)");
        } else {
            check_must_not_match($name, 'no_error_log', 'error.log', $pats, $lines, $dry_run,
                                 " (req $repeated_req_idx)");
        }
    }

    if (!$dry_run) {
        $lines ||= error_log_data();
        for my $line (@$lines) {
            # nginx's own stderr lines (must_die blocks) are not repeated
            next if $line =~ /^nginx: \[/;
            for my $level (sort keys %warn_on) {
                if ($line =~ /\[$level\]/) {
                    warn "WARNING: $name - " . fmt_str($line) . "\n";
                }
            }
        }
    }

    for my $line (@{ $lines || [] }) {
        if ($line =~ /\bAssertion .*?failed\b/) {
            (my $l = $line) =~ s/\n\z//;
            fail("$name - $l\n");
        }
    }
}

sub check_shutdown_error_log ($$) {
    my ($block, $dry_run) = @_;
    my $name = $block->name;
    my $lines;
    if (defined $block->shutdown_error_log) {
        $lines ||= error_log_data();
        check_must_match($name, 'shutdown_error_log', 'error.log', $block->shutdown_error_log,
                         $lines, $dry_run ? 'dry_run' : 0, '');
    }
    if (defined $block->no_shutdown_error_log) {
        $lines ||= error_log_data();
        check_must_not_match($name, 'no_shutdown_error_log', 'error.log',
                             $block->no_shutdown_error_log, $lines,
                             $dry_run ? 'dry_run' : 0, '');
    }
}

1;
