// What the iOS logic tests share: the repository's files (the generated
// string tables, the demo photo), the real BCCD photos from ../shared/data
// (HEMALENS_DATA overrides), an in-memory vault, and image helpers (ImageIO
// and CoreGraphics: the tests may use them, the logic may not).
import CoreGraphics
import Foundation
import HemalensBindings
import HemalensLogic
import ImageIO
import XCTest

enum Repo {
    /// The repository's root: this file is ios/HemalensKit/Tests/HemalensLogicTests/Support.swift.
    static let root: URL = {
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<5 {
            u.deleteLastPathComponent()
        }
        return u
    }()

    static let resources = root.appendingPathComponent("ios/Hemalens/Resources")

    /// The four catalogues, by language tag, as the app loads them.
    static func catalogue(_ tag: String) throws -> Catalogue {
        try Catalogue.load(lproj: resources.appendingPathComponent("\(tag).lproj"), language: tag)
    }

    static var dataDir: URL {
        if let env = ProcessInfo.processInfo.environment["HEMALENS_DATA"] {
            return URL(fileURLWithPath: env)
        }
        return root.deletingLastPathComponent().appendingPathComponent("shared/data")
    }

    /// The first `n` BCCD field photos of a split (`train`, `val`, `test`); skips the test without them.
    static func bccd(_ split: String, _ n: Int) throws -> [Data] {
        let dir = dataDir.appendingPathComponent("bccd_fields")
        let csv = dir.appendingPathComponent("labels.csv")
        guard let text = try? String(contentsOf: csv, encoding: .utf8) else {
            throw XCTSkip("no BCCD photos at \(dir.path) (set HEMALENS_DATA)")
        }
        let rows = text.split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        return try rows.filter { $0.count > 3 && $0[3] == split }.prefix(n).map {
            try Data(contentsOf: dir.appendingPathComponent($0[0]))
        }
    }
}

/// The vault of the tests: the setup in memory, fresh random keys.
final class MemoryVault: DeviceVault {
    var setup: Setup?
    let key = try! generateKey()
    var seed = try! generateKey()
    var keyReads = 0

    func loadSetup() -> Setup? {
        setup
    }

    func saveSetup(_ setup: Setup) throws {
        self.setup = setup
    }

    func storeKey() throws -> Data {
        keyReads += 1
        return key
    }

    func deviceSeed() throws -> Data {
        seed
    }
}

/// An image as 8-bit RGBA rows.
struct RGBA {
    let width: Int
    let height: Int
    var pixels: [UInt8]

    init(width: Int, height: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Decodes a JPEG (ImageIO), optionally drawn into `width` x `height` over a near-black background,
    /// scaled to the height and centred (as a 4:3 photo shows in a 16:9 preview frame).
    static func decode(_ jpeg: Data, width w: Int? = nil, height h: Int? = nil) -> RGBA? {
        guard let src = CGImageSourceCreateWithData(jpeg as CFData, nil),
              let img = CGImageSourceCreateImageAtIndex(src, 0, nil) else {
            return nil
        }
        let width = w ?? img.width
        let height = h ?? img.height
        var pixels = [UInt8](repeating: 0, count: width * height * 4)
        let ok: Bool = pixels.withUnsafeMutableBytes { raw in
            guard let ctx = CGContext(
                data: raw.baseAddress, width: width, height: height, bitsPerComponent: 8, bytesPerRow: width * 4,
                space: CGColorSpaceCreateDeviceRGB(), bitmapInfo: CGImageAlphaInfo.premultipliedLast.rawValue
            ) else {
                return false
            }
            ctx.setFillColor(red: 5 / 255, green: 4 / 255, blue: 4 / 255, alpha: 1)
            ctx.fill(CGRect(x: 0, y: 0, width: width, height: height))
            let sw = Double(img.width) * Double(height) / Double(img.height)
            let rect = w == nil ? CGRect(x: 0, y: 0, width: width, height: height)
                : CGRect(x: (Double(width) - sw) / 2, y: 0, width: sw, height: Double(height))
            ctx.interpolationQuality = .high
            ctx.draw(img, in: rect)
            return true
        }
        return ok ? RGBA(width: width, height: height, pixels: pixels) : nil
    }

    /// Every channel times `k` (a lamp turned down).
    func dimmed(_ k: Double) -> RGBA {
        var out = self
        for i in 0..<pixels.count where i % 4 != 3 {
            out.pixels[i] = UInt8(Double(pixels[i]) * k)
        }
        return out
    }

    func jpeg(quality: Double = 0.92) -> Data? {
        let data = NSMutableData()
        var copy = pixels
        let made: CGImage? = copy.withUnsafeMutableBytes { raw in
            CGContext(
                data: raw.baseAddress, width: width, height: height, bitsPerComponent: 8, bytesPerRow: width * 4,
                space: CGColorSpaceCreateDeviceRGB(), bitmapInfo: CGImageAlphaInfo.premultipliedLast.rawValue
            )?.makeImage()
        }
        guard let img = made,
              let dest = CGImageDestinationCreateWithData(data, "public.jpeg" as CFString, 1, nil) else {
            return nil
        }
        CGImageDestinationAddImage(dest, img, [kCGImageDestinationLossyCompressionQuality: quality] as CFDictionary)
        return CGImageDestinationFinalize(dest) ? data as Data : nil
    }

    /// The frame AVFoundation's video data output gives for this picture:
    /// bi-planar 4:2:0 full range (Y, then interleaved CbCr), rows padded.
    func biPlanarFrame(rotationDegrees: Int = 0, pad: Int = 16) -> BiPlanarFrame {
        let cw = (width + 1) / 2
        let ch = (height + 1) / 2
        let yStride = width + pad
        let cStride = cw * 2 + pad
        var y = [UInt8](repeating: 0, count: yStride * height)
        var cbcr = [UInt8](repeating: 128, count: cStride * ch)
        func clamp(_ v: Double) -> UInt8 {
            UInt8(max(0, min(255, v.rounded())))
        }
        for r in 0..<height {
            for c in 0..<width {
                let i = (r * width + c) * 4
                let red = Double(pixels[i])
                let green = Double(pixels[i + 1])
                let blue = Double(pixels[i + 2])
                y[r * yStride + c] = clamp(0.299 * red + 0.587 * green + 0.114 * blue)
                if r % 2 == 0 && c % 2 == 0 {
                    cbcr[(r / 2) * cStride + 2 * (c / 2)] = clamp(128 - 0.168736 * red - 0.331264 * green + 0.5 * blue)
                    cbcr[(r / 2) * cStride + 2 * (c / 2) + 1] = clamp(128 + 0.5 * red - 0.418688 * green - 0.081312 * blue)
                }
            }
        }
        return BiPlanarFrame(
            width: width, height: height, rotationDegrees: rotationDegrees,
            y: Data(y), yRowStride: yStride, cbcr: Data(cbcr), cbcrRowStride: cStride
        )
    }
}

/// A real field photographed with the lamp at a tenth of its brightness.
func dimmed(_ jpeg: Data) throws -> Data {
    let img = try XCTUnwrap(RGBA.decode(jpeg), "decode")
    return try XCTUnwrap(img.dimmed(0.1).jpeg(), "encode")
}
