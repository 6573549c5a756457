"""The downstream every request of the service under test calls: a tiny untraced HTTP/1.1 server.

It answers each request at once with a fixed 2-byte body and keeps the connection open, so the only
work per call is a few system calls on a core the service does not run on. It counts the requests it
answered (``GET /__count``): each request the service handled made exactly one call here.

    python -m benches.service.downstream PORT
"""

import asyncio
import sys

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class Downstream(asyncio.Protocol):
    count = 0

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]  # the requests carry no body
            if head.startswith(b"GET /__count "):
                body = str(Downstream.count).encode()
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            else:
                Downstream.count += 1
                self.transport.write(RESPONSE)


async def serve(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Downstream, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
