-- Requests that go through a list of run ids, one run per request:
--
--   wrk ... -s cycle.lua URL -- METHOD PREFIX RUNS OFFSET THREADS
--
-- The path is PREFIX .. run .. "/exports".  Thread k of THREADS takes runs
-- OFFSET+k, OFFSET+k+THREADS, ... (wrapping), so with distinct OFFSETs two
-- wrk runs POST distinct runs.
--
-- RUNS is a file of run ids, one a line, or "uuid:FAMILY:COUNT" for the
-- runs "client.py mkruns --family FAMILY" names: run K is then made from
-- K for each request.  Two sides that differ only in COUNT then cost wrk
-- nearly the same: a list of 100,000 strings does not (against one
-- "return 200", wrk made 0.70-0.85 as many requests from a list of
-- 100,000 runs as from a list of 10; made from K, 0.92-1.02).  Each
-- request also carries its number in "X-Bench-Seq".

local counter = 0

function setup(thread)
    thread:set("tid", counter)
    counter = counter + 1
end

local runs, nruns, idx, step, method, prefix, family
local seq = {}

function init(args)
    local f, n

    method = args[1]
    prefix = args[2]
    f, n = string.match(args[3], "^uuid:(%x+):(%d+)$")
    if f then
        family = tonumber(f, 16)
        nruns = tonumber(n)
    else
        runs = {}
        for line in io.lines(args[3]) do
            runs[#runs + 1] = line
        end
        nruns = #runs
    end
    step = tonumber(args[5])
    idx = tonumber(args[4]) + tid
end

function request()
    local run

    if family then
        run = string.format("%08x-0000-4000-8000-%012x", family,
                            idx % nruns)
    else
        run = runs[(idx % nruns) + 1]
    end
    -- every request is a new string on both sides, so that wrk makes the
    -- same garbage whether the runs repeat every 10 requests or not
    seq["X-Bench-Seq"] = idx
    idx = idx + step
    return wrk.format(method, prefix .. run .. "/exports", seq)
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
