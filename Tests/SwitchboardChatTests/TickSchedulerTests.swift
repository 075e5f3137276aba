import NIOCore
import NIOEmbedded
import XCTest

@testable import SwitchboardChat

/// The end of the tick without a hub: the budget, who waits for it, and in which order they get their turn.
final class TickSchedulerTests: XCTestCase {
    /// A worker that spends `cost` of the budget per item until its items are done, parking when it may not.
    private final class Worker: FanOutWorker {
        let name: String
        let scheduler: TickScheduler
        var items: Int
        let cost: Int
        private let record: (String) -> Void
        init(_ name: String, items: Int, cost: Int, scheduler: TickScheduler, record: @escaping (String) -> Void) {
            self.name = name
            self.items = items
            self.cost = cost
            self.scheduler = scheduler
            self.record = record
        }
        func drain() {
            while items > 0 {
                guard scheduler.mayWork else { return scheduler.park(self) }
                scheduler.charge(cost)
                items -= 1
                record(name)
            }
        }
    }

    func testParkedWorkersGetTheirTurnsOldestFirstAndRunOutAtTheBack() {
        let loop = EmbeddedEventLoop()
        let scheduler = TickScheduler(eventLoop: loop, budget: 10)
        var turns: [String] = []
        let a = Worker("a", items: 3, cost: 4, scheduler: scheduler) { turns.append($0) }
        let b = Worker("b", items: 2, cost: 4, scheduler: scheduler) { turns.append($0) }
        a.drain()  // spends 4, 8, then 12: a check passes below the budget, so the third item still runs
        XCTAssertEqual(turns, ["a", "a", "a"])
        b.drain()  // the budget is spent: b parks
        XCTAssertTrue(scheduler.isParked(b))
        XCTAssertFalse(scheduler.mayWork)
        loop.run()  // the tick task: budget renewed, resume scheduled
        XCTAssertTrue(scheduler.isParked(b))
        XCTAssertFalse(scheduler.mayWork, "parked workers go first: nobody else may work before their turn")
        loop.advanceTime(by: TickScheduler.resumeDelay)
        XCTAssertFalse(scheduler.isParked(b))
        XCTAssertEqual(turns, ["a", "a", "a", "b", "b"])
    }

    func testAWorkerParksOnceAndNewcomersWaitBehindTheParked() {
        let loop = EmbeddedEventLoop()
        let scheduler = TickScheduler(eventLoop: loop, budget: 4)
        var turns: [String] = []
        let a = Worker("a", items: 4, cost: 4, scheduler: scheduler) { turns.append($0) }
        let b = Worker("b", items: 1, cost: 1, scheduler: scheduler) { turns.append($0) }
        a.drain()
        scheduler.park(a)  // a second park is a no-op
        loop.run()
        // A newcomer finds the budget renewed but someone parked: it waits behind them.
        b.drain()
        XCTAssertTrue(scheduler.isParked(b))
        loop.advanceTime(by: TickScheduler.resumeDelay)
        loop.run()
        loop.advanceTime(by: TickScheduler.resumeDelay)
        loop.run()
        loop.advanceTime(by: TickScheduler.resumeDelay)
        loop.run()
        loop.advanceTime(by: TickScheduler.resumeDelay)
        XCTAssertEqual(turns.filter { $0 == "a" }.count, 4)
        XCTAssertEqual(turns.firstIndex(of: "b").map { $0 > 1 }, true, "b went after the a that parked before it")
        XCTAssertEqual(turns.count, 5, "each item once: a worker parked twice would run twice")
    }

    func testTheTickResetsItsLinesAndBudgetEvenWhenNobodyTookALine() {
        let loop = EmbeddedEventLoop()
        let scheduler = TickScheduler(eventLoop: loop, budget: 100)
        _ = scheduler.append("nobody hears this")
        scheduler.charge(100)
        XCTAssertFalse(scheduler.mayWork)
        XCTAssertGreaterThan(scheduler.lines.buffer.readableBytes, 0)
        loop.run()
        XCTAssertTrue(scheduler.mayWork)
        XCTAssertEqual(scheduler.lines.buffer.readableBytes, 0)
    }
}
