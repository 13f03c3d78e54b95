-- wrk script: send exactly the bytes the Python TARP client (requests 2.31) sends.
--
--   wrk -t2 -c32 -d5s -s bench/wrk/python_client.lua http://127.0.0.1:PORT/add   -- add
--   wrk -t2 -c32 -d5s -s bench/wrk/python_client.lua http://127.0.0.1:PORT/small -- get
--
-- Mode `add` (default): the sync RPC call add(1, 2): POST with the JSON body
-- {"args": b64(pickle((1, 2), protocol=4)), "kwargs": b64(pickle({}, protocol=4))},
-- computed once with CPython 3.11 and hard-coded. Mode `get`: a web GET with no query.
--
-- wrk's own wrk.format() emits headers in Lua hash order; overriding it keeps the request
-- byte-identical to the Python client's (header order included) while staying a *static*
-- request: wrk.init() calls wrk.format() once per thread and no global request() function is
-- defined, so wrk makes no Lua call per request.

local body = '{"args": "gASVBwAAAAAAAABLAUsChpQu", "kwargs": "gAR9lC4="}'
local mode = "add"

function init(args)
   if args[1] then
      mode = args[1]
   end
   if mode ~= "add" and mode ~= "get" then
      error("python_client.lua: mode must be add or get, not " .. tostring(mode))
   end
end

wrk.format = function()
   local common = "Host: " .. wrk.headers["Host"] .. "\r\n"
      .. "User-Agent: python-requests/2.31.0\r\n"
      .. "Accept-Encoding: gzip, deflate\r\n"
      .. "Accept: */*\r\n"
      .. "Connection: keep-alive\r\n"
   if mode == "add" then
      return "POST " .. wrk.path .. " HTTP/1.1\r\n" .. common
         .. "Content-Length: " .. #body .. "\r\n"
         .. "Content-Type: application/json\r\n\r\n" .. body
   end
   return "GET " .. wrk.path .. " HTTP/1.1\r\n" .. common .. "\r\n"
end
