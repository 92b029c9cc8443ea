-- POST /todos with a small valid body (bench/sqlite_pool/run).
wrk.method = "POST"
wrk.body = '{"title":"benchmark todo"}'
wrk.headers["Content-Type"] = "application/json"
