@_spi(CustomByteBufferAllocator) import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The buffer allocator of a TLS connection's channel: large buffers start on a page boundary, so the pages
/// nobody has written to yet cost no memory.
///
/// swift-nio-ssl gives every connection, up front, a 32 KiB plaintext read buffer (`NIOSSLHandler`) and a
/// 16 KiB ciphertext buffer (its BIO), from the channel's allocator. An idle client touches only their first
/// bytes, but from `malloc` each starts right after malloc's header, in a page that is written at once, and
/// ends in the page of the next chunk's header: about 4.7 KiB per idle connection were resident for
/// nothing (`Benchmarks/tls.sh`'s hold row, 23.8 → 19.1 KiB). Aligned to pages, a buffer's header sits in
/// the page before it (shared with whatever precedes it) and its own pages become resident only when
/// written. The rest of a buffer's life is `malloc`'s: `realloc` and `free` take these blocks as any other.
///
/// ```
///   malloc(32768):        |hdr|data…·····································|hdr|next…
///                          ^ page written at once                         ^ next chunk's page
///   page-aligned:     …hdr|data··········································|next…
///                          ^ untouched until the client sends something
/// ```
/// Smaller requests (NIO's receive buffers start at 2 KiB) go to `malloc` unchanged.
///
/// Built with NIO's `@_spi(CustomByteBufferAllocator)` initialiser (swift-nio 2.101): an SPI is outside
/// semantic versioning, so a NIO release that changes it breaks this file's build, loudly, not its behaviour.
///
/// Thread-safe (`malloc`'s functions are).
enum TLSBufferAllocator {
    /// Requests of at least this many bytes are page-aligned (ByteBuffer asks for powers of two).
    static let alignedMinimum = 16_384
    static let pageSize = 4_096

    /// The allocator to set on a TLS connection's channel (`ChannelOptions.allocator`) before its TLS
    /// handler is added.
    static let allocator = ByteBufferAllocator(
        allocate: { size in
            guard size >= TLSBufferAllocator.alignedMinimum else { return malloc(size) }
            // aligned_alloc wants a multiple of the alignment; ByteBuffer asks for powers of two.
            let rounded = (size + TLSBufferAllocator.pageSize - 1) & ~(TLSBufferAllocator.pageSize - 1)
            return aligned_alloc(TLSBufferAllocator.pageSize, rounded)
        },
        reallocate: { pointer, _, newSize in realloc(pointer, newSize) },
        deallocate: { free($0) },
        copy: { destination, source, count in destination.copyMemory(from: source, byteCount: count) }
    )
}
