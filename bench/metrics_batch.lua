-- wrk script for bench/metrics.sh (b): batches of SIZE samples in Influx line
-- protocol, the same body for both servers (the bench's 500 series in
-- turn, no timestamps: each server stamps its arrival time; both keep
-- samples of equal series and time).
-- Arguments: SIZE sentinel TOKEN (POST /api/v1/metrics/write) or SIZE vm
-- (POST /write).
local models = { "gpt-4o", "claude-3", "llama-3", "mistral", "gemini" }

function init(args)
	local size = tonumber(args[1])
	local lines = {}
	for n = 0, size - 1 do
		local a = n % 50
		local m = math.floor(n / 50) % 10
		lines[#lines + 1] = string.format("b_m%d,agent=agent-%d,model=%s,host=host-%d value=%.1f",
			m, a, models[a % 5 + 1], a % 10, (n * 7 % 1000) / 10)
	end
	wrk.method = "POST"
	wrk.body = table.concat(lines, "\n") .. "\n"
	wrk.headers["Content-Type"] = "text/plain"
	if args[2] == "sentinel" then
		wrk.path = "/api/v1/metrics/write"
		wrk.headers["Authorization"] = "Bearer " .. args[3]
	else
		wrk.path = "/write"
	end
end
