-- wrk script: POST a 1 KiB file to the Submission API with the token from $TOKEN.
wrk.method = "POST"
wrk.body = string.rep("A", 1024)
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.headers["Content-Type"] = "application/octet-stream"
