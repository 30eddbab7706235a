#!/usr/bin/env bash
# Prints the summary lines that the benchmarks wrote to FILE as one
# table: every figure with a goal, its value and PASS or MISS.  A line
# is FIGURE<TAB>name<TAB>goal<TAB>value<TAB>PASS|MISS (docs/benchmarks.md,
# "Summary lines"); other lines are ignored, and so are malformed ones,
# which are counted.  `make bench` runs it after t/bench/*.sh.
set -euo pipefail

f=${1:?usage: util/bench-summary.sh FILE}

if [ ! -s "$f" ]; then
    echo "no figures in $f"
    exit 0
fi

awk -F'\t' '
    $1 != "FIGURE" { next }
    NF != 5 || ($5 != "PASS" && $5 != "MISS") { bad++; next }
    {
        n++; name[n] = $2; goal[n] = $3; value[n] = $4; res[n] = $5
        if (length($2) > w1) w1 = length($2)
        if (length($3) > w2) w2 = length($3)
        if (length($4) > w3) w3 = length($4)
        if ($5 == "PASS") pass++; else miss++
    }
    END {
        if (w1 < 6) w1 = 6; if (w2 < 4) w2 = 4; if (w3 < 5) w3 = 5
        fmt = "%-" w1 "s  %-" w2 "s  %" w3 "s  %s\n"
        printf fmt, "figure", "goal", "value", "result"
        for (i = 1; i <= n; i++) printf fmt, name[i], goal[i], value[i], res[i]
        printf "\n%d figures: %d PASS, %d MISS", n, pass, miss
        if (bad) printf "; %d malformed summary lines ignored", bad
        printf "\n"
    }' "$f"
