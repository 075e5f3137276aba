"""The classic Twisted chat server, as a baseline for Switchboard.

The design the Twisted tutorials teach: a LineReceiver per connection, a Factory holding the shared
state (the set of clients), and adbapi's ConnectionPool running blocking sqlite3 calls on a thread
pool, results coming back as Deferreds on the reactor thread.

    on connect:  INSERT a row (adbapi) -> its id N names the visitor ->
                 "* Welcome, guestN! C clients connected (you are visitor #N). Type /quit to leave."
                 others: "* guestN joined (C clients connected)"
    a line:      others: "<guestN> text"
    /quit:       the connection closes; others: "* guestN left (quit) (C clients connected)"
    disconnect:  UPDATE the row (adbapi): disconnected_at, close_reason, lines and bytes

Input lines end at LF (a trailing CR is dropped); output lines end in CRLF. Listens on 127.0.0.1
with TCP_NODELAY on each connection, like the other servers compared; SQLite runs in WAL mode.

Usage: python chat.py PORT DB_PATH
"""

import sys
import time

from twisted.enterprise import adbapi
from twisted.internet import endpoints, reactor
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver

SCHEMA = """
CREATE TABLE IF NOT EXISTS connections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    peer TEXT NOT NULL,
    nickname TEXT,
    connected_at REAL NOT NULL,
    disconnected_at REAL,
    close_reason TEXT,
    lines_in INTEGER NOT NULL DEFAULT 0,
    bytes_in INTEGER NOT NULL DEFAULT 0
)
"""


def _insert_connection(txn, peer):
    txn.execute("INSERT INTO connections (peer, connected_at) VALUES (?, ?)", (peer, time.time()))
    return txn.lastrowid


class ChatProtocol(LineReceiver):
    delimiter = b"\n"  # accept LF and CRLF; CR is stripped in lineReceived
    MAX_LENGTH = 1024 * 64

    def __init__(self):
        self.visitor = None  # set once the database has given us a number
        self.name = None
        self.lines_in = 0
        self.bytes_in = 0
        self.close_reason = "connection closed"

    def sendLine(self, line):
        self.transport.write(line + b"\r\n")

    def connectionMade(self):
        # Interactive traffic: no Nagle delay (the C relay and SwiftNIO set TCP_NODELAY too).
        self.transport.setTcpNoDelay(True)
        peer = self.transport.getPeer()
        d = self.factory.dbpool.runInteraction(_insert_connection, "%s:%d" % (peer.host, peer.port))
        d.addCallbacks(self._welcome, self._no_number)

    def _welcome(self, visitor):
        if not self.transport.connected:
            return
        self.visitor = visitor
        self.name = b"guest%d" % visitor
        self.factory.clients.add(self)
        count = len(self.factory.clients)
        self.sendLine(
            b"* Welcome, %s! %d clients connected (you are visitor #%d). Type /quit to leave."
            % (self.name, count, visitor)
        )
        self.factory.broadcast(b"* %s joined (%d clients connected)" % (self.name, count), exclude=self)

    def _no_number(self, failure):
        failure.printTraceback(file=sys.stderr)
        self.transport.loseConnection()

    def lineReceived(self, line):
        if line.endswith(b"\r"):
            line = line[:-1]
        self.lines_in += 1
        self.bytes_in += len(line)
        if line == b"/quit" or line.startswith(b"/quit "):
            self.close_reason = "quit"
            self.transport.loseConnection()
            return
        if self.name is None:
            return  # not welcomed yet: nobody knows us
        self.factory.broadcast(b"<%s> %s" % (self.name, line), exclude=self)

    def connectionLost(self, reason):
        if self in self.factory.clients:
            self.factory.clients.discard(self)
            self.factory.broadcast(
                b"* %s left (%s) (%d clients connected)"
                % (self.name, self.close_reason.encode(), len(self.factory.clients)),
                exclude=self,
            )
        if self.visitor is not None:
            self.factory.dbpool.runOperation(
                "UPDATE connections SET disconnected_at = ?, close_reason = ?, nickname = ?,"
                " lines_in = ?, bytes_in = ? WHERE id = ?",
                (time.time(), self.close_reason, self.name.decode(), self.lines_in, self.bytes_in, self.visitor),
            ).addErrback(lambda failure: failure.printTraceback(file=sys.stderr))


class ChatFactory(Factory):
    protocol = ChatProtocol

    def __init__(self, dbpool):
        self.dbpool = dbpool
        self.clients = set()

    def broadcast(self, line, exclude=None):
        for client in self.clients:
            if client is not exclude:
                client.sendLine(line)


def _open_connection(conn):
    # WAL without per-commit fsync, as a server that expects write traffic would configure SQLite.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: chat.py PORT DB_PATH")
    port, db_path = int(sys.argv[1]), sys.argv[2]
    # One connection: SQLite has one writer anyway, and more threads would only wait on its lock.
    dbpool = adbapi.ConnectionPool(
        "sqlite3", db_path, check_same_thread=False, cp_min=1, cp_max=1, cp_openfun=_open_connection
    )

    def listen(_):
        endpoint = endpoints.serverFromString(reactor, "tcp:%d:interface=127.0.0.1:backlog=1024" % port)
        return endpoint.listen(ChatFactory(dbpool))

    def failed(failure):
        failure.printTraceback(file=sys.stderr)
        reactor.stop()

    d = dbpool.runOperation(SCHEMA)
    d.addCallback(listen)
    d.addErrback(failed)
    reactor.run()


if __name__ == "__main__":
    main()
