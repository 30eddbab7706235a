# The documentation keeps up with the code:
#
#   - every directive of the module's command tables (src/*.c) has a
#     heading in docs/directives.md with **Syntax:**, **Default:** and
#     **Context:** lines in the style of nginx.org, and the contexts are
#     those the code allows; no heading documents a directive that does
#     not exist;
#   - every variable of the module's variable tables is documented in
#     docs/directives.md, and no other $export_ variable is;
#   - every errorCode string (EXPORT_...) of src/*.c is in the error
#     code table of docs/api.md, with the HTTP status the code sends,
#     and in the errorCode enum of docs/openapi.yaml.
#
# The checks are also run on a copy of the sources with a directive, a
# variable and an error code added, and must fail there.

use strict;
use warnings;

use FindBin;
use Test::More;

my $top = "$FindBin::Bin/..";

sub slurp {
    my ($file) = @_;
    open my $fh, '<:raw', $file or die "$file: $!";
    local $/;
    return scalar <$fh>;
}

# C source without comments, so that a table in a comment or a
# commented-out entry does not count
sub strip_comments {
    my ($c) = @_;
    $c =~ s{/\*.*?\*/}{ }gs;
    $c =~ s{//[^\n]*}{}g;
    return $c;
}

# name => [contexts] of every entry of every ngx_command_t table
sub directives_of {
    my ($src) = @_;
    my %d;
    while ($src =~ /ngx_command_t\s+\w+\s*\[\s*\]\s*=\s*\{(.*?)ngx_null_command/gs) {
        my $table = $1;
        while ($table =~ /\{\s*ngx_string\(\s*"([^"]+)"\s*\)\s*,\s*([^,]+),/g) {
            my ($name, $flags) = ($1, $2);
            my @ctx;
            push @ctx, 'http' if $flags =~ /\bNGX_HTTP_MAIN_CONF\b/;
            push @ctx, 'server' if $flags =~ /\bNGX_HTTP_SRV_CONF\b/;
            push @ctx, 'if in server' if $flags =~ /\bNGX_HTTP_SIF_CONF\b/;
            push @ctx, 'upstream' if $flags =~ /\bNGX_HTTP_UPS_CONF\b/;
            push @ctx, 'location' if $flags =~ /\bNGX_HTTP_LOC_CONF\b/;
            push @ctx, 'if in location' if $flags =~ /\bNGX_HTTP_LIF_CONF\b/;
            push @ctx, 'limit_except' if $flags =~ /\bNGX_HTTP_LMT_CONF\b/;
            push @ctx, 'main' if $flags =~ /\bNGX_MAIN_CONF\b/;
            $d{$name} = { contexts => \@ctx,
                          flag => scalar($flags =~ /\bNGX_CONF_FLAG\b/) };
        }
    }
    return \%d;
}

# names of every entry of every ngx_http_variable_t table
sub variables_of {
    my ($src) = @_;
    my @v;
    while ($src =~ /ngx_http_variable_t\s+\w+\s*\[\s*\]\s*=\s*\{(.*?)ngx_http_null_variable/gs) {
        push @v, $1 =~ /\{\s*ngx_string\(\s*"([^"]+)"\s*\)/g;
    }
    return \@v;
}

my %STATUS = (NGX_HTTP_BAD_REQUEST => 400, NGX_HTTP_FORBIDDEN => 403,
              NGX_HTTP_NOT_FOUND => 404, NGX_HTTP_NOT_ALLOWED => 405,
              NGX_HTTP_TOO_MANY_REQUESTS => 429,
              NGX_HTTP_INTERNAL_SERVER_ERROR => 500,
              NGX_HTTP_SERVICE_UNAVAILABLE => 503);

# code => { status => 1 } of every "EXPORT_..." string; the status is
# known where the string is the argument after the status of a call
sub error_codes_of {
    my ($src) = @_;
    my %c;
    while ($src =~ /"(EXPORT_[A-Z_]+)"/g) {
        $c{$1} ||= {};
    }
    while ($src =~ /\(\s*\w+\s*,\s*(NGX_HTTP_\w+|\d{3})\s*,\s*"(EXPORT_[A-Z_]+)"/g) {
        my ($how, $code) = ($1, $2);
        my $status = $how =~ /^\d+$/ ? $how : $STATUS{$how};
        $c{$code}{$status} = 1 if $status;
    }
    return \%c;
}

# the problems of the documentation for these sources, one line each
sub problems {
    my ($src, $directives_md, $api_md, $openapi) = @_;
    my @p;

    # --- directives

    my $dirs = directives_of($src);
    push @p, 'no command table found in src/*.c' unless %$dirs;

    # "## name" sections of directives.md
    my %section;
    my @parts = split /^## +/m, $directives_md;
    shift @parts;
    for my $part (@parts) {
        my ($head, $body) = split /\n/, $part, 2;
        $head =~ s/\s+$//;
        push @p, "directives.md has two sections \"$head\""
            if exists $section{$head};
        $section{$head} = $body // '';
    }

    for my $name (sort keys %$dirs) {
        my $body = $section{$name};
        unless (defined $body) {
            push @p, "directive $name has no \"## $name\" heading in docs/directives.md";
            next;
        }
        # the three lines, together, in this order, before the prose
        my ($syntax, $default, $context) = $body =~
            /\A\s*\*\*Syntax:\*\* +(.+?)(?:<br>)?\n\*\*Default:\*\* +(.+?)(?:<br>)?\n\*\*Context:\*\* +(.+?)(?:<br>)?\n/;
        unless (defined $context) {
            push @p, "$name: no **Syntax:**, **Default:** and **Context:** lines after its heading";
            next;
        }
        push @p, "$name: Syntax is not `$name ...;`: $syntax"
            unless $syntax =~ /^`\Q$name\E( [^`]+)?;`$/;
        push @p, "$name: Syntax of a flag is not `$name on | off;`: $syntax"
            if $dirs->{$name}{flag} && $syntax ne "`$name on | off;`";
        push @p, "$name: Default is neither — nor `$name ...;`: $default"
            unless $default eq '—' || $default =~ /^`\Q$name\E [^`]+;`$/;
        my @ctx = $context =~ /`([^`]+)`/g;
        my $ctx_text = join ', ', map { "`$_`" } @ctx;
        push @p, "$name: Context is not a list of `context`: $context"
            unless $ctx_text eq $context;
        my $want = join ', ', @{ $dirs->{$name}{contexts} };
        push @p, "$name: Context says " . join(', ', @ctx) . ", the code allows $want"
            unless join(', ', @ctx) eq $want;
    }

    for my $head (sort keys %section) {
        next unless $head =~ /^export_/;
        push @p, "docs/directives.md documents $head, which is not a directive of the code"
            unless $dirs->{$head};
    }

    # --- variables

    my $vars = variables_of($src);
    push @p, 'no variable table found in src/*.c' unless @$vars;
    my ($var_part) = $directives_md =~ /^## Variables\s*\n(.*?)(?=^## |\z)/ms;
    $var_part //= '';
    my %documented = map { $_ => 1 } $var_part =~ /^`\$(\w+)`\s*$/mg;
    for my $v (@$vars) {
        push @p, "variable \$$v is not documented under \"## Variables\" in docs/directives.md"
            unless $documented{$v};
    }
    my %known = map { $_ => 1 } @$vars;
    for my $v (sort keys %documented) {
        push @p, "docs/directives.md documents \$$v, which is not a variable of the code"
            unless $known{$v};
    }

    # --- error codes

    my $codes = error_codes_of($src);
    push @p, 'no errorCode string found in src/*.c' unless %$codes;
    my %table;
    while ($api_md =~ /^\| `(EXPORT_[A-Z_]+)` \| (\d{3}) \|/mg) {
        $table{$1} = $2;
    }
    my ($enum) = $openapi =~ /\n( +)errorCode:\n(?:\1 .*\n)*?\1  enum:\n((?:\1 +- .*\n)+)/;
    $enum = $2 // '';
    my %in_enum = map { $_ => 1 } $enum =~ /- (EXPORT_[A-Z_]+)/g;
    push @p, 'docs/openapi.yaml: no errorCode enum found' unless %in_enum;

    for my $code (sort keys %$codes) {
        push @p, "errorCode $code is not in docs/api.md"
            unless $api_md =~ /\b\Q$code\E\b/;
        if (!exists $table{$code}) {
            push @p, "errorCode $code has no row in the error code table of docs/api.md";
        } else {
            for my $status (sort keys %{ $codes->{$code} }) {
                push @p, "errorCode $code is sent with $status, docs/api.md says $table{$code}"
                    if $status != $table{$code};
            }
        }
        push @p, "errorCode $code is not in the errorCode enum of docs/openapi.yaml"
            if %in_enum && !$in_enum{$code};
    }
    for my $code (sort keys %table) {
        push @p, "docs/api.md lists $code, which the code never sends"
            unless $codes->{$code};
    }

    return @p;
}

my @files = sort glob("$top/src/*.c");
ok(@files, 'src/*.c found');
my $src = join "\n", map { strip_comments(slurp($_)) } @files;
my $directives_md = slurp("$top/docs/directives.md");
my $api_md = slurp("$top/docs/api.md");
my $openapi = slurp("$top/docs/openapi.yaml");

my $dirs = directives_of($src);
my $vars = variables_of($src);
my $codes = error_codes_of($src);
cmp_ok(scalar keys %$dirs, '>=', 19, 'the command tables have the directives')
    or diag explain $dirs;
ok(exists $dirs->{export_zone} && exists $dirs->{export_max_columns},
   'the first and the last directive are found');
is_deeply($dirs->{export_zone}{contexts}, ['http'], 'export_zone: http only');
is_deeply($dirs->{export_ttl}{contexts}, [qw(http server location)],
          'export_ttl: http, server, location');
ok($dirs->{export_csv_bom}{flag}, 'export_csv_bom is a flag');
ok(!grep({ !/^export_/ } keys %$dirs), 'every directive is export_*');
cmp_ok(scalar @$vars, '>=', 4, 'the variable table has the variables');
ok(!exists $dirs->{export_reference_token} && !exists $dirs->{export_job_id},
   'variables are not taken for directives');
cmp_ok(scalar keys %$codes, '>=', 10, 'the errorCode strings are found');
is_deeply($codes->{EXPORT_QUOTA_EXCEEDED}, { 429 => 1 },
          'the status of a code is found');

my @p = problems($src, $directives_md, $api_md, $openapi);
is_deeply(\@p, [], 'the documentation covers every directive, variable and errorCode')
    or diag join "\n", @p;

# --- the checks can fail

my $first = (sort keys %$dirs)[0];

sub add_directive {
    my ($s, $entry) = @_;
    $s =~ s/(ngx_command_t\s+\w+\s*\[\s*\]\s*=\s*\{)/$1\n$entry/ or die;
    return $s;
}

my @bad = problems(add_directive($src, <<'C'), $directives_md, $api_md, $openapi);
    { ngx_string("export_undocumented"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },
C
ok((grep { /export_undocumented has no "## export_undocumented" heading/ } @bad),
   'a directive added to the code without docs is found');

@bad = problems($src, $directives_md =~ s/^\*\*Default:\*\*.*\n//mr,
                $api_md, $openapi);
ok((grep { /no \*\*Syntax:\*\*, \*\*Default:\*\* and \*\*Context:\*\* lines/ } @bad),
   'a section without its Default line is found');

@bad = problems($src, $directives_md =~ s/^(## export_ttl\n\n\*\*Syntax:\*\* .*\n\*\*Default:\*\* .*\n\*\*Context:\*\* )`http`, /$1/mr,
                $api_md, $openapi);
ok((grep { /export_ttl: Context says server, location, the code allows http/ } @bad),
   'a wrong Context is found');

@bad = problems($src =~ s/(ngx_http_variable_t\s+\w+\s*\[\s*\]\s*=\s*\{)/$1\n    { ngx_string("export_secret_var"), NULL, NULL, 0, 0, 0 },/r,
                $directives_md, $api_md, $openapi);
ok((grep { /variable \$export_secret_var is not documented/ } @bad),
   'a variable added to the code without docs is found');

@bad = problems($src . qq{\nreturn ngx_http_export_send_error(r, NGX_HTTP_BAD_REQUEST, "EXPORT_NEW_CODE", &msg);\n},
                $directives_md, $api_md, $openapi);
ok((grep { /errorCode EXPORT_NEW_CODE is not in docs\/api\.md/ } @bad),
   'an errorCode added to the code without docs is found');
ok((grep { /EXPORT_NEW_CODE is not in the errorCode enum/ } @bad),
   '... and missing from the OpenAPI enum');

@bad = problems($src =~ s/NGX_HTTP_SERVICE_UNAVAILABLE(\s*,\s*"EXPORT_CAPACITY")/NGX_HTTP_BAD_REQUEST$1/r,
                $directives_md, $api_md, $openapi);
ok((grep { /EXPORT_CAPACITY is sent with 400, docs\/api\.md says 503/ } @bad),
   'an errorCode sent with another status than documented is found');

done_testing();
