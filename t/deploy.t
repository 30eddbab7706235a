# The deployment recipes of docs/deployment.md, each started for real
# from its configuration file in t/deploy/ (the text the document shows)
# with a backend of its own, and a full export checked through it:
#
#   a) the module in front of an application (proxy_pass for the rest
#      of the API)                                       ports 2001, 2002
#   b) auth_request in front, a quota per authenticated user  2003, 2004
#   c) TLS termination with a self-signed certificate         2005
#   d) the module loaded the Debian way (modules-enabled/), by the
#      modules/ path and by an absolute path                  2006, 2007

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helpers";

use HTTP::Response;
use HTTP::Tiny;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

use DeployTest;
use ExportTest ();

my $T = $FindBin::Bin;

# where the servers live (see ExportTest::test_dir)
my $S = ExportTest::test_dir();
my $KEY = join '', map { chr int rand 256 } 1 .. 32;
my %REPORTS = (
    'hosts.json' => '[{"host": {"name": "esx-1"}, "status": "PASSED"},'
                  . ' {"host": {"name": "esx-2"}, "status": "FAILED"}]',
    'services.ndjson' => qq({"service": "dns", "state": "running"}\n)
                       . qq({"service": "ntp", "state": "stopped"}\n),
);
my @REPORT_NAMES = sort keys %REPORTS;

sub run_id { sprintf '%08x-0000-4000-8000-%012x', $_[0], $_[1] }

sub ua { HTTP::Tiny->new(timeout => 30, keep_alive => 0, @_) }

# the placeholders of t/deploy/*.conf for the nginx in ROOT
sub vars {
    my ($root, %more) = @_;
    return (MODULE => $MODULE, RUNS => "$root/runs", STORE => "$root/store",
            %more);
}

sub no_alerts {
    my ($n, $what) = @_;
    unlike(slurp("$n->{root}/logs/error.log"), qr/\[(alert|crit|emerg)\]/,
           "$what: no alert, crit or emerg in error.log");
}

sub json { my $v = eval { decode_json($_[0]{content}) }; $v || {} }

# --- the document shows the configurations exactly as tested

subtest 'docs/deployment.md shows t/deploy/*.conf as they are' => sub {
    my $doc = slurp("$T/../docs/deployment.md");
    ok(length $doc, 'docs/deployment.md exists');
    my %shown;
    # a fenced block right after a line that names t/deploy/FILE
    while ($doc =~ m{`t/deploy/([\w.-]+)`[^\n]*\n\s*\n```[a-z]*\n(.*?)```}gs) {
        $shown{$1} = $2;
    }
    my @files = map { s{.*/}{}r } glob("$T/deploy/*.conf");
    ok(@files >= 6, 'there are configuration files in t/deploy');
    for my $f (@files) {
        ok(exists $shown{$f}, "the document shows t/deploy/$f") or next;
        is($shown{$f}, slurp("$T/deploy/$f"),
           "the document's t/deploy/$f is the tested text");
    }
};

# --- a) the module in front of the application

subtest 'a) proxy_pass for the rest of the API' => sub {
    my $root = "$S/servroot_deploy_2001";
    my ($port, $bport) = (2001, 2002);

    start_backend(port => $bport, root => "$root-backend", handler => sub {
        my ($r) = @_;
        my $body = encode_json({ backend => 'app', method => $r->method,
                                 path => $r->uri->path,
                                 forwardedFor => $r->header('X-Forwarded-For') });
        return HTTP::Response->new(200, 'OK',
            [ 'Content-Type' => 'application/json', 'X-Backend' => 'app' ],
            $body);
    });

    my $n = start_server(root => $root, port => $port,
        conf => conf_text('proxy.conf', vars($root, PORT => $port,
                                             BACKEND => $bport)),
        files => { 'conf/export.key' => $KEY });

    my $base = "http://127.0.0.1:$port";
    my $run = run_id(0xa, 1);
    make_run_dir($root, $run, \%REPORTS);

    for my $path ('/v1/system/check-sets', "/v1/system/check-sets/$run",
                  "/v1/system/check-sets/$run/exports/other")
    {
        my $res = ua()->get("$base$path");
        is($res->{status}, 200, "$path: 200");
        is($res->{headers}{'x-backend'}, 'app', "$path: answered by the backend");
        my $b = json($res);
        is($b->{path}, $path, "$path: the backend saw the path");
        is($b->{forwardedFor}, '127.0.0.1', "$path: with X-Forwarded-For");
    }

    my $res = ua()->post("$base/v1/system/check-sets/$run");
    is($res->{headers}{'x-backend'}, 'app', 'a POST of another path goes to the backend');

    full_export(ua => ua(), base => $base, run => $run,
                reports => \@REPORT_NAMES, what => 'proxied');

    $res = ua()->get("$base/v1/system/check-sets/$run/exports/data");
    is($res->{status}, 200, 'exports/data is served by the module');
    is($res->{headers}{'content-type'}, 'application/zip', 'exports/data is a zip');

    my @seen = map { $_->[0] } @{ backend_log("$root-backend") };
    is(scalar @seen, 4, 'the backend got the four other requests')
        or diag explain \@seen;
    is_deeply([ grep { m{/exports(/file|/data)?(\?|$)} } @seen ], [],
              'no export request reached the backend');

    no_alerts($n, 'proxy');
    stop_server($n);
};

# --- b) auth_request in front, a quota per authenticated user

subtest 'b) auth_request and a quota keyed by the user' => sub {
    my $root = "$S/servroot_deploy_2003";
    my ($port, $bport) = (2003, 2004);
    my %users = ('Bearer alice-secret' => 'alice', 'Bearer bob-secret' => 'bob');

    start_backend(port => $bport, root => "$root-backend", handler => sub {
        my ($r) = @_;
        return HTTP::Response->new(404, 'Not Found') if $r->uri->path ne '/auth';
        my $user = $users{ $r->header('Authorization') // '' };
        return HTTP::Response->new(200, 'OK', [ 'X-User' => $user ]) if $user;
        return HTTP::Response->new(401, 'Unauthorized',
            [ 'WWW-Authenticate' => 'Bearer realm="exports"' ]);
    });

    my $n = start_server(root => $root, port => $port,
        conf => conf_text('auth.conf', vars($root, PORT => $port,
                                            BACKEND => $bport)),
        files => { 'conf/export.key' => $KEY });

    my $base = "http://127.0.0.1:$port";
    my $alice = { 'Authorization' => 'Bearer alice-secret' };
    my $bob = { 'Authorization' => 'Bearer bob-secret' };
    my $api = sub { "$base/v1/system/check-sets/$_[0]/exports" };

    # a run that takes a while, so that alice's first export is still
    # unfinished when she asks for a second one
    my $big = join '', map { qq({"i": $_, "pad": "@{[ 'p' x 200 ]}"}\n) } 1 .. 150000;
    my ($run1, $run2, $run3) = (run_id(0xb, 1), run_id(0xb, 2), run_id(0xb, 3));
    make_run_dir($root, $run1, { 'big.ndjson' => $big });
    make_run_dir($root, $run2, \%REPORTS);
    make_run_dir($root, $run3, \%REPORTS);

    # without the right credentials: the backend's 401, and no export
    for my $case ([ 'no Authorization', {} ],
                  [ 'a wrong token', { 'Authorization' => 'Bearer mallory' } ])
    {
        my $res = ua()->request('POST', $api->($run2), { headers => $case->[1] });
        is($res->{status}, 401, "POST with $case->[0]: 401");
        is($res->{headers}{'www-authenticate'}, 'Bearer realm="exports"',
           "POST with $case->[0]: the backend's WWW-Authenticate");
    }
    my $res = ua()->request('GET', $api->($run2), { headers => $alice });
    is($res->{status}, 404, 'no export was created by the refused POSTs');
    is(json($res)->{errorCode}, 'EXPORT_TASK_NOT_FOUND', '... EXPORT_TASK_NOT_FOUND');
    my @auth = grep { $_->[0] =~ m{^\S+ /auth$} } @{ backend_log("$root-backend") };
    is(scalar @auth, 3, 'each request was put to the backend');
    is($auth[0][2], "/v1/system/check-sets/$run2/exports",
       'the backend is told the original URI');

    # one unfinished export per user
    my $first = ua()->request('POST', $api->($run1), { headers => $alice });
    is($first->{status}, 202, "alice's first export: 202");
    is($first->{headers}{ratelimit}, '"per_user-active";r=0',
       "alice's quota is used up");
    $res = ua()->request('POST', $api->($run2), { headers => $alice });
    is($res->{status}, 429, "alice's second export: 429");
    my $e = json($res);
    is($e->{errorCode}, 'EXPORT_QUOTA_EXCEEDED', '... EXPORT_QUOTA_EXCEEDED');
    is_deeply($e->{arguments}, [ 'per_user', 'active', '1' ],
              '... the per_user zone refused it');
    like(json(ua()->request('GET', $api->($run1), { headers => $alice }))->{status},
         qr/^(NOT_STARTED|QUEUED|IN_PROGRESS)$/,
         "alice's first export was still unfinished then");

    $res = ua()->request('POST', $api->($run3), { headers => $bob });
    is($res->{status}, 202, 'bob is not affected by alice\'s quota');
    is($res->{headers}{ratelimit}, '"per_user-active";r=0', "bob's own quota");

    # the full export; the link works without credentials
    full_export(ua => ua(), base => $base, run => $run1, post => $first,
                headers => $alice, link_headers => {},
                reports => ['big.ndjson'], what => 'authenticated');

    $res = ua()->request('POST', $api->($run2), { headers => $alice });
    is($res->{status}, 202, "alice's slot came back when her export finished");

    my $data = "$base/v1/system/check-sets/$run1/exports/data";
    is(ua()->get($data)->{status}, 401, 'exports/data without credentials: 401');
    $res = ua()->request('GET', $data, { headers => $bob });
    is($res->{status}, 200, 'exports/data for an authenticated user: 200');
    is($res->{headers}{'content-type'}, 'application/zip', '... a zip');

    # no log line holds a credential or a link signature
    for my $log (qw(error.log access.log)) {
        my $text = slurp("$root/logs/$log");
        unlike($text, qr/alice-secret|bob-secret/,
               "auth: $log holds no Authorization value");
        unlike($text, qr/(?<![a-z])signature=[A-Za-z0-9_]/,
               "auth: $log holds no link signature");
    }

    no_alerts($n, 'auth');
    stop_server($n);
};

# --- c) TLS termination

subtest 'c) TLS with a self-signed certificate' => sub {
    my $root = "$S/servroot_deploy_2005";
    my $port = 2005;

    my $n = start_server(root => $root, port => $port,
        conf => conf_text('tls.conf', vars($root, PORT => $port)),
        files => { 'conf/export.key' => $KEY },
        setup => sub {
            my ($r) = @_;
            my $out = `openssl req -x509 -newkey rsa:2048 -nodes -days 2 \\
                -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \\
                -keyout $r/conf/export-cert.key -out $r/conf/export-cert.pem 2>&1`;
            die "openssl req failed: $out" if $?;
            chmod 0600, "$r/conf/export-cert.key";
        });

    my $run = run_id(0xc, 1);
    make_run_dir($root, $run, \%REPORTS);
    my $base = "https://127.0.0.1:$port";

    # the client trusts exactly our certificate
    my $tls = ua(verify_SSL => 1,
                 SSL_options => { SSL_ca_file => "$root/conf/export-cert.pem" });

    my $res = ua(verify_SSL => 1)->get("$base/v1/system/check-sets/$run/exports");
    is($res->{status}, 599, 'a client that does not trust the certificate fails');
    like($res->{content}, qr/certificate verify failed/,
         '... because the certificate cannot be verified');
    $res = ua()->get("http://127.0.0.1:$port/v1/system/check-sets/$run/exports");
    is($res->{status}, 400, 'plain HTTP to the TLS port: 400');

    full_export(ua => $tls, base => $base, run => $run,
                reports => \@REPORT_NAMES, what => 'https');

    $res = $tls->get("$base/v1/system/check-sets/$run/exports");
    like($res->{protocol} // '', qr{^HTTP/1\.1$}, 'answered over TLS by nginx');

    no_alerts($n, 'tls');
    stop_server($n);
};

# --- d) the module in an existing nginx: modules-enabled/

subtest 'd) load_module through modules-enabled/' => sub {
    my @cases = (
        [ 2006, 'mod-http-export.conf', 'the modules/ path (Debian layout)' ],
        [ 2007, 'mod-http-export-path.conf', 'an absolute path' ],
    );
    for my $c (@cases) {
        my ($port, $file, $what) = @$c;
        my $root = "$S/servroot_deploy_$port";

        my $n = start_server(root => $root, port => $port,
            conf => conf_text('debian.conf', vars($root, PORT => $port)),
            files => { 'conf/export.key' => $KEY,
                       "conf/modules-available/$file" =>
                           conf_text($file, MODULE => $MODULE) },
            setup => sub {
                my ($r) = @_;
                # as Debian does: the package's modules/ directory and
                # a link in modules-enabled/ to modules-available/
                mkdir "$r/modules";
                symlink $MODULE, "$r/modules/ngx_http_export_module.so" or die $!;
                mkdir "$r/conf/modules-enabled";
                symlink "../modules-available/$file",
                        "$r/conf/modules-enabled/50-mod-http-export.conf"
                    or die $!;
            });
        like($n->{test_output}, qr/test is successful/, "$what: nginx -t passes");

        my $run = run_id(0xd, $port);
        make_run_dir($root, $run, \%REPORTS);
        full_export(ua => ua(), base => "http://127.0.0.1:$port", run => $run,
                    reports => \@REPORT_NAMES, what => $what);
        no_alerts($n, $what);
        stop_server($n);

        # without the file in modules-enabled/ the directives are unknown
        unlink "$root/conf/modules-enabled/50-mod-http-export.conf";
        my $out = `$NGINX -p $root/ -c conf/nginx.conf -t 2>&1`;
        isnt($?, 0, "$what: without modules-enabled/50-mod-http-export.conf nginx -t fails");
        like($out, qr/unknown directive "export_zone"/,
             "$what: ... the export directives are unknown then");
    }
};

done_testing();
