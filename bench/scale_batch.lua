-- wrk script for bench/scale.sh: metric batches, JSON to POST
-- /api/v1/metrics, each batch SIZE samples of one agent (metrics
-- m0..m{SIZE-1}), the agents scale-0..scale-{AGENTS-1} in turn; no
-- timestamps (the server stamps its arrival time).
-- Arguments: TOKEN SIZE AGENTS.
local bodies, n = {}, 0

function init(args)
	local size, agents = tonumber(args[2]), tonumber(args[3])
	for a = 0, agents - 1 do
		local s = {}
		for m = 0, size - 1 do
			s[#s + 1] = string.format('{"agent":"scale-%d","metric":"m%d","value":%.1f}',
				a, m, ((a * 31 + m * 7) % 1000) / 10)
		end
		bodies[#bodies + 1] = '{"samples":[' .. table.concat(s, ",") .. ']}'
	end
	-- Threads start at different agents.
	math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
	n = math.random(0, agents - 1)
	wrk.method = "POST"
	wrk.path = "/api/v1/metrics"
	wrk.headers["Authorization"] = "Bearer " .. args[1]
	wrk.headers["Content-Type"] = "application/json"
end

function request()
	n = n + 1
	return wrk.format(nil, nil, nil, bodies[n % #bodies + 1])
end
