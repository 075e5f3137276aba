/// A joined client as the hub's fan-out list holds it: unowned, so a broadcast does not retain and release
/// every recipient. Safe because each is held strongly in ``ChatHub/sessions`` for as long as it is in the
/// list, and nothing a broadcast calls can remove one (closes wait for the end of the tick). On the hub's loop.
struct JoinedClient {
    unowned(unsafe) let client: any ChatClient

    init(_ client: any ChatClient) { self.client = client }
}
