"""The application: counts visits in redis and keeps notes in PostgreSQL,
both reached by their service names. It connects at its start and does
not retry: it runs only if depends_on waited for both to be healthy."""
import http.server
import os

import psycopg2
import redis

cache = redis.Redis(host=os.environ["REDIS_HOST"], port=6379)
cache.ping()
db = psycopg2.connect(os.environ["DATABASE_URL"])
db.autocommit = True
with db.cursor() as cur:
    cur.execute("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, body text NOT NULL)")


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            cache.ping()
            with db.cursor() as cur:
                cur.execute("SELECT 1")
            return self.reply(200, "ok\n")
        if self.path == "/visits":
            return self.reply(200, "%d\n" % cache.incr("visits"))
        if self.path == "/notes":
            with db.cursor() as cur:
                cur.execute("SELECT body FROM notes ORDER BY id")
                return self.reply(200, "".join(row[0] + "\n" for row in cur.fetchall()))
        self.reply(404, "not found\n")

    def do_POST(self):
        if self.path == "/notes":
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            with db.cursor() as cur:
                cur.execute("INSERT INTO notes (body) VALUES (%s)", (body,))
            return self.reply(201, "stored\n")
        self.reply(404, "not found\n")

    def log_message(self, format, *args):
        print("%s %s" % (self.address_string(), format % args))


print("app: listening on :8000")
http.server.HTTPServer(("", 8000), Handler).serve_forever()
