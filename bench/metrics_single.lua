-- wrk script for bench/metrics.sh (a): one sample per request, cycling over
-- the bench's 50 agents x 10 metrics (tags model and host fixed per agent).
-- Arguments: sentinel TOKEN (POST /api/v1/metrics, JSON) or vm (POST /write,
-- Influx line protocol). No timestamp: each server stamps its arrival time.
local models = { "gpt-4o", "claude-3", "llama-3", "mistral", "gemini" }
local kind
local n = 0

function init(args)
	kind = args[1]
	-- Threads start at different series.
	math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
	n = math.random(0, 499)
	wrk.method = "POST"
	if kind == "sentinel" then
		wrk.path = "/api/v1/metrics"
		wrk.headers["Authorization"] = "Bearer " .. args[2]
		wrk.headers["Content-Type"] = "application/json"
	else
		wrk.path = "/write"
		wrk.headers["Content-Type"] = "text/plain"
	end
end

function request()
	n = n + 1
	local a = n % 50
	local m = math.floor(n / 50) % 10
	local v = (n % 1000) / 10
	local body
	if kind == "sentinel" then
		body = string.format('{"agent":"agent-%d","metric":"s_m%d","value":%.1f,"tags":{"model":"%s","host":"host-%d"}}',
			a, m, v, models[a % 5 + 1], a % 10)
	else
		body = string.format("s_m%d,agent=agent-%d,model=%s,host=host-%d value=%.1f",
			m, a, models[a % 5 + 1], a % 10, v)
	end
	return wrk.format(nil, nil, nil, body)
end
