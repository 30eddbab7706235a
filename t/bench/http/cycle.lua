-- Requests that go through a list of run ids, one run per request:
--
--   wrk ... -s cycle.lua URL -- METHOD PREFIX RUNS_FILE OFFSET THREADS
--
-- The path is PREFIX .. run .. "/exports".  Thread k of THREADS takes runs
-- OFFSET+k, OFFSET+k+THREADS, ... (wrapping), so with distinct OFFSETs two
-- wrk runs POST distinct runs.

local counter = 0

function setup(thread)
    thread:set("tid", counter)
    counter = counter + 1
end

local runs, nruns, idx, step, method, prefix

function init(args)
    method = args[1]
    prefix = args[2]
    runs = {}
    for line in io.lines(args[3]) do
        runs[#runs + 1] = line
    end
    nruns = #runs
    step = tonumber(args[5])
    idx = tonumber(args[4]) + tid
end

function request()
    local run = runs[(idx % nruns) + 1]
    idx = idx + step
    return wrk.format(method, prefix .. run .. "/exports")
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
