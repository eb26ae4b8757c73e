-- The write mix: alternately a grade PATCH for a random cadet and a bulk attendance call marking
-- 50 consecutive cadets on one training day. Arguments after `--`: <max cadet id> <training day id>.
local counter, max_id, day = 0, 1000, 1
local headers = {}

init = function(args)
  max_id = tonumber(args[1]) or max_id
  day = tonumber(args[2]) or day
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
  for k, v in pairs(wrk.headers) do headers[k] = v end
  headers["Content-Type"] = "application/json"
end

request = function()
  counter = counter + 1
  if counter % 2 == 0 then
    local id = math.random(1, max_id)
    return wrk.format("PATCH", "/api/grades/" .. id, headers,
      string.format('{"prelim_score": %d}', math.random(60, 100)))
  end
  local start = math.random(1, math.max(1, max_id - 50))
  local ids = {}
  for i = 0, 49 do ids[#ids + 1] = tostring(start + i) end
  local status = (counter % 4 == 1) and "present" or "late"
  return wrk.format("POST", "/api/attendance/bulk", headers, string.format(
    '{"training_day_id": %d, "cadet_ids": [%s], "status": "%s", "on_conflict": "update"}',
    day, table.concat(ids, ","), status))
end
