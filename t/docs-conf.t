# The documentation's nginx configurations run: every ```nginx block of
# README.md and docs/*.md, and docs/example.conf, passes `nginx -t` with
# the built module loaded.
#
# A block is a complete nginx.conf unless its first line says it is a
# fragment, and where it goes:
#
#     # fragment: goes in main
#     # fragment: goes in http {}
#     # fragment: goes in server
#     # fragment: goes in location ~ ^/x/(?<run_id>[^/]+)$
#
# A fragment is checked inside the smallest configuration around that
# context: `events {}`, and `http { server { listen ...; location ARGS
# { ... } } }` down to the named context (`location /` without ARGS).
# Around it come only what the fragment uses and does not define itself:
# `thread_pool exports`, `export_zone exports:1m`, and an
# `export_quota_zone` for each `zone=NAME` of an `export_quota`.
#
# To run the blocks as printed, with a scratch directory as the file
# system, the test rewrites them (and only so):
#
#   - every `load_module ...;` loads the built module ($EXPORT_MODULE, or
#     the first of $TEST_NGINX_LOAD_MODULES); a block without one gets
#     one, unless it includes `modules-enabled/*.conf`, which the
#     prefix then holds;
#   - placeholders: @MODULE@ the module, @PORT@ and @BACKEND@ ports,
#     any other @NAME@ a directory of the scratch directory;
#   - absolute paths under /etc, /var, /srv, /opt and /run move into the
#     scratch directory; what the directives need there is created: an
#     `export_store` directory (writable by the workers), an
#     `export_link_secret` key, an `auth_basic_user_file`, a self-signed
#     `ssl_certificate` and key;
#   - nginx runs with the scratch directory as prefix (`-p`), so that
#     relative paths (logs/, conf/) land there, and `-e` for its log.
#
# The checker itself is shown to fail: a complete configuration without
# `events`, a fragment without its marker, a fragment with a bad
# directive, a marker with an unknown context.
#
# Plain Test::More: it runs the same with our t/lib or the real
# Test::Nginx installed.

use strict;
use warnings;

use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use FindBin;
use Test::More;

my $top = "$FindBin::Bin/..";
my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my ($module) = grep { defined && length }
               ($ENV{EXPORT_MODULE},
                split(' ', $ENV{TEST_NGINX_LOAD_MODULES} || ''));

plan skip_all => 'no module: set EXPORT_MODULE or TEST_NGINX_LOAD_MODULES'
    unless $module && -f $module;

# workers that run as nobody or www-data must reach the store
my $scratch = tempdir('docs-conf-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $scratch;

sub slurp {
    my ($file) = @_;
    open my $fh, '<:raw', $file or die "$file: $!";
    local $/;
    return scalar <$fh>;
}

sub spew {
    my ($file, $text) = @_;
    open my $fh, '>:raw', $file or die "$file: $!";
    print $fh $text;
    close $fh;
}

# [file, line, text] of every ```nginx block of a Markdown file
sub blocks_of {
    my ($file) = @_;
    my @b;
    my ($in, $start, $text, $n) = (0, 0, '', 0);
    for my $line (split /\n/, slurp($file), -1) {
        $n++;
        if (!$in && $line =~ /^```nginx\s*$/) {
            ($in, $start, $text) = (1, $n, '');
        } elsif ($in && $line =~ /^```\s*$/) {
            push @b, [$file, $start, $text];
            $in = 0;
        } elsif ($in) {
            $text .= "$line\n";
        }
    }
    return @b;
}

my $cert;

sub self_signed {
    return $cert if $cert;
    my $dir = "$scratch/cert";
    make_path($dir);
    my $out = `openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -keyout $dir/key.pem -out $dir/cert.pem 2>&1`;
    die "openssl: $out" if $?;
    return $cert = $dir;
}

# A fresh prefix for one configuration, and the text rewritten for it.
sub prepare {
    my ($text, $id) = @_;
    my $root = "$scratch/$id";

    remove_tree($root);
    make_path("$root/conf/modules-enabled", "$root/logs", "$root/fs");
    spew("$root/conf/modules-enabled/50-mod-http-export.conf",
         "load_module $module;\n");

    $text =~ s/^(\s*)load_module\s+[^;]+;/${1}load_module $module;/mg;
    $text =~ s/\@MODULE\@/$module/g;
    $text =~ s/\@PORT\@/1999/g;
    $text =~ s/\@BACKEND\@/1998/g;
    $text =~ s{\@(\w+)\@}{
        my $d = "$root/" . lc $1;
        make_path("$d/conf", "$d/runs", "$d/store");
        chmod 0777, "$d/store";
        $d
    }ge;
    $text =~ s{(?<![\w\$/.:-])(/(?:etc|var|srv|opt|run)/[^\s;"'{}]*)}
              {$root/fs$1}g;

    # what the directives need on the file system
    while ($text =~ /^\s*export_store\s+([^\s;]+)\s*;/mg) {
        make_path($1);
        chmod 0777, $1;
    }
    while ($text =~ /^\s*export_link_secret\s+([^\s;]+)\s*;/mg) {
        my $f = $1;
        $f = "$root/conf/$f" unless $f =~ m{^/};
        (my $d = $f) =~ s{/[^/]*$}{};
        make_path($d);
        spew($f, 'k' x 32);
    }
    while ($text =~ /^\s*auth_basic_user_file\s+([^\s;]+)\s*;/mg) {
        my $f = $1;
        $f = "$root/conf/$f" unless $f =~ m{^/};
        (my $d = $f) =~ s{/[^/]*$}{};
        make_path($d);
        spew($f, "user:{PLAIN}secret\n");
    }
    while ($text =~ /^\s*(ssl_certificate(?:_key)?)\s+([^\s;]+)\s*;/mg) {
        my ($what, $f) = ($1, $2);
        $f = "$root/conf/$f" unless $f =~ m{^/};
        (my $d = $f) =~ s{/[^/]*$}{};
        make_path($d);
        my $c = self_signed();
        spew($f, slurp($what eq 'ssl_certificate' ? "$c/cert.pem"
                                                  : "$c/key.pem"));
    }

    return ($root, $text);
}

# The configuration to test for a block: itself, or a fragment wrapped
# into its context.  Dies with the reason for a fragment it cannot place.
sub whole {
    my ($text) = @_;

    return $text unless $text =~ /\A#\s*fragment:\s*(.*?)\s*\n/;

    my $where = $1;
    die "the marker says \"$where\", not \"goes in CONTEXT\"\n"
        unless $where =~ /^goes in (main|http|server|location)\b\s*(.*?)\s*(?:\{\s*\})?$/;
    my ($ctx, $args) = ($1, $2);
    die "only a location takes arguments in the marker\n"
        if length $args && $ctx ne 'location';

    # load_module comes before anything else of the main context
    my $main = '';
    $main .= $1 while $text =~ s/^(\s*load_module\b[^;]*;[^\n]*\n)//m;
    $main .= "load_module $module;\n"
        unless $main ne '' || $text =~ /^\s*include\b/m;
    $main .= "thread_pool exports threads=1;\n"
        unless $text =~ /^\s*thread_pool\s+exports\b/m;
    $main .= "events { }\n" unless $text =~ /^\s*events\b/m;

    return "$main$text" if $ctx eq 'main';

    my $http = '';
    $http .= "export_zone exports:1m;\n"
        unless $text =~ /^\s*export_zone\s+exports:/m;
    my %zones;
    $zones{$1} = 1 while $text =~ /^\s*export_quota\s+zone=(\w+)/mg;
    for my $z (sort keys %zones) {
        $http .= "export_quota_zone \$binary_remote_addr zone=$z:1m;\n"
            unless $text =~ /^\s*export_quota_zone\s+\S+\s+zone=\Q$z\E:/m;
    }

    my $inner = $text;
    $inner = "location " . (length $args ? $args : '/') . " {\n$inner}\n"
        if $ctx eq 'location';
    $inner = "server {\nlisten 127.0.0.1:1999;\n$inner}\n"
        if $ctx eq 'location' || $ctx eq 'server';

    return "${main}http {\n$http$inner}\n";
}

# nginx -t on one block: '' when it passes, else why not
my $seq = 0;

sub check {
    my ($text) = @_;
    my $conf = eval { whole($text) };
    return "not placed: $@" unless defined $conf;

    my ($root, $rewritten) = prepare($conf, 'c' . ++$seq);
    spew("$root/conf/nginx.conf", $rewritten);

    my $out = `$nginx -t -q -p $root/ -e $root/logs/error.log -c conf/nginx.conf 2>&1`;
    return '' if $? == 0;
    return "nginx -t failed:\n$out\n--- the configuration tested:\n$rewritten";
}

# --- every block of the documentation

my @files = ("$top/README.md", sort glob("$top/docs/*.md"));
my @blocks = map { blocks_of($_) } @files;
push @blocks, ["$top/docs/example.conf", 1, slurp("$top/docs/example.conf")];

ok(@blocks >= 30, 'the documentation has its nginx blocks (' . @blocks . ')');

my %in_file;
for my $b (@blocks) {
    my ($file, $line, $text) = @$b;
    (my $name = $file) =~ s{^\Q$top\E/}{};
    $in_file{$name}++;
    my $kind = $text =~ /\A#\s*fragment:/ ? 'fragment' : 'configuration';
    my $why = check($text);
    ok($why eq '', "$name:$line: the $kind passes nginx -t") or diag $why;
}

ok($in_file{'README.md'}, 'README.md has its minimal configuration');
ok($in_file{'docs/directives.md'} > 20, 'docs/directives.md: its examples');
ok($in_file{'docs/styles.md'} >= 3, 'docs/styles.md: one per style');

# --- the checker fails where it must

my $no_events = <<'CONF';
load_module modules/ngx_http_export_module.so;
thread_pool exports threads=2 max_queue=4096;

http {
    export_zone exports:16m;
}
CONF

like(check($no_events), qr/no "events" section/,
     'a complete configuration without events fails');
is(check($no_events =~ s/^http/events { }\nhttp/mr), '',
   '... and passes with it');

like(check("export_ttl 30m;\n"), qr/nginx -t failed/,
     'a fragment without its marker fails as a configuration');
is(check("# fragment: goes in location\nexport_ttl 30m;\n"), '',
   '... and passes with it');

like(check("# fragment: goes in location\nexport_ttl never;\n"),
     qr/"export_ttl" directive invalid value/,
     'a fragment with a bad value fails');
like(check("# fragment: goes in location\nexport_no_such_thing on;\n"),
     qr/unknown directive "export_no_such_thing"/,
     'a fragment with an unknown directive fails');
like(check("# fragment: goes in http\nexport_run_id \$no_such_var;\n"),
     qr/unknown "no_such_var" variable/,
     'a fragment with an unknown variable fails');
like(check("# fragment: goes in upstream\nserver 127.0.0.1;\n"),
     qr/not placed/, 'a marker with an unknown context fails');
like(check("# fragment: goes in location ~ ^/x/(?<run_id>[^/]+)\$\n"
           . "export_run_id \$run_id;\n"), qr/^$/,
     'a location marker gives the captures of its regex');

done_testing();
