-- wrk script of bench/validate_cost: POSTs one valid 10-field JSON body.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name":"Ada Lovelace","email":"ada@example.com","age":36,"score":97.5,' ..
  '"active":true,"role":"admin","country":"GB","zip":"NW1 6XE","tags":["math","poet","eng"],' ..
  '"referrer":"https://example.com/from"}'
