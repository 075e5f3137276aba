// TEMPORARY: stands in for the producer gate the lead is adding to ChatHub on main; removed at the merge.
extension ChatHub {
    enum BehindSource: Sendable { case history, cluster }
    func setBehind(_ source: BehindSource, _ behind: Bool) {}
}
