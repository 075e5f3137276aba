import NIOCore
@testable import SwitchboardChat
import XCTest

/// ``TLSBufferAllocator``: NIOSSL's large per-connection buffers start on a page boundary; everything else is
/// an ordinary buffer.
final class TLSBufferAllocatorTests: XCTestCase {
    private func baseAddress(_ buffer: ByteBuffer) -> UInt {
        buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
    }

    /// The sizes NIOSSL asks for (its 16 KiB BIO buffer and 32 KiB plaintext buffer) are page-aligned.
    func testLargeBuffersStartOnAPage() {
        for capacity in [16_384, 32_768, 65_536] {
            let buffer = TLSBufferAllocator.allocator.buffer(capacity: capacity)
            XCTAssertGreaterThanOrEqual(buffer.capacity, capacity)
            XCTAssertEqual(baseAddress(buffer) % UInt(TLSBufferAllocator.pageSize), 0, "capacity \(capacity)")
        }
    }

    /// A small buffer, and a large one that grows, shrinks to a copy and is written through, keep their
    /// bytes: the allocator's realloc, copy and free are malloc's.
    func testBuffersKeepTheirBytesThroughGrowthAndCopies() {
        var small = TLSBufferAllocator.allocator.buffer(capacity: 2_048)
        small.writeString("hello")
        XCTAssertEqual(small.readString(length: 5), "hello")

        var large = TLSBufferAllocator.allocator.buffer(capacity: 16_384)
        let pattern = (0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        large.writeBytes(pattern)  // grows past 32 KiB through reallocate
        let copy = large  // shares storage; the next write copies it
        large.writeString("!")
        XCTAssertEqual(copy.readableBytesView.elementsEqual(pattern), true)
        XCTAssertEqual(Array(large.readableBytesView.prefix(40_000)), pattern)
        XCTAssertEqual(large.getString(at: large.readerIndex + 40_000, length: 1), "!")
    }
}
