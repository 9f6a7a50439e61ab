-- wrk script: POST /updates as the plugin sends it. By default a different device id on every
-- request (every check writes a new device record); with FLEET=N set, N devices that check
-- in turn, as a fleet does (after its first round, a device's record is not rewritten).
local counter = 0
local fleet = tonumber(os.getenv("FLEET") or "0") or 0
math.randomseed(os.time())
local prefix = string.format("%08x", math.random(0, 0x7fffffff))

request = function()
  counter = counter + 1
  if fleet > 0 and counter > fleet then counter = 1 end
  local device = string.format("%s-0000-4000-8000-%012x", prefix, counter)
  local body = '{"platform":"android","device_id":"' .. device .. '","app_id":"com.bench.app",' ..
    '"custom_id":"","version_build":"1.0.0","version_code":"1","version_os":"14",' ..
    '"version_name":"builtin","plugin_version":"8.51.14","is_emulator":false,"is_prod":true,' ..
    '"defaultChannel":""}'
  return wrk.format("POST", "/updates", {["Content-Type"] = "application/json"}, body)
end
