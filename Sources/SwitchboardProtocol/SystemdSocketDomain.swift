/// The address family a `systemd:` endpoint expects of the socket systemd passes (Twisted's `domain=`).
///
/// The server checks it against the socket it is given, so a unit file whose sockets are listed in a
/// different order fails at start with a clear error instead of serving on the wrong socket.
public enum SystemdSocketDomain: String, Sendable, Hashable {
    case inet = "INET"
    case inet6 = "INET6"
    case unix = "UNIX"
}
