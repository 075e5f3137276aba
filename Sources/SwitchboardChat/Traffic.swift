/// A connection's traffic, for its history row.
struct Traffic {
    var linesIn: Int64 = 0
    var bytesIn: Int64 = 0
    var linesOut: Int64 = 0
    var bytesOut: Int64 = 0
}
