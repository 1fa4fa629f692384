import Foundation
import HemalensBindings
import TensorFlowLiteC

/// The core's models run by TensorFlow Lite's C library for iOS
/// (`TensorFlowLiteC`, CocoaPods), through the core's engine trait
/// (`PlatformEngine`, rust-core/ffi/src/engine.rs): the native LiteRT the
/// core uses elsewhere is not built for iOS. Handles are this engine's own;
/// the core checks the tensors reported here against each pack's manifest and
/// every answer's size, so a mismatch is the core's `ModelProblem`, never a
/// crash. The core runs one handle from one thread at a time (different
/// handles may run at once); a lock guards only the table of handles.
final class TFLiteEngine: PlatformEngine, @unchecked Sendable {
    /// One loaded model. TensorFlow Lite reads the model's bytes in place for
    /// the model's whole life: they are copied here and freed last.
    private final class Loaded {
        let bytes: UnsafeMutableRawPointer
        let model: OpaquePointer
        let options: OpaquePointer
        let interpreter: OpaquePointer
        let tensors: ModelTensors
        let lock = NSLock()

        init(bytes: UnsafeMutableRawPointer, model: OpaquePointer, options: OpaquePointer, interpreter: OpaquePointer, tensors: ModelTensors) {
            self.bytes = bytes
            self.model = model
            self.options = options
            self.interpreter = interpreter
            self.tensors = tensors
        }

        deinit {
            TfLiteInterpreterDelete(interpreter)
            TfLiteInterpreterOptionsDelete(options)
            TfLiteModelDelete(model)
            bytes.deallocate()
        }
    }

    private let lock = NSLock()
    private var loaded: [UInt64: Loaded] = [:]
    private var next: UInt64 = 0

    /// Our own words only: the core replaces them with its own anyway.
    private static func problem(_ detail: String) -> HemalensError {
        HemalensError.ModelProblem(code: "platform_engine", detail: detail)
    }

    func load(model: Data, threads: UInt32) throws -> UInt64 {
        let count = model.count
        guard count > 0 else {
            throw TFLiteEngine.problem("empty model")
        }
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 16)
        model.copyBytes(to: bytes.assumingMemoryBound(to: UInt8.self), count: count)
        guard let m = TfLiteModelCreate(UnsafeRawPointer(bytes), count) else {
            bytes.deallocate()
            throw TFLiteEngine.problem("not a TensorFlow Lite model")
        }
        guard let o = TfLiteInterpreterOptionsCreate() else {
            TfLiteModelDelete(m)
            bytes.deallocate()
            throw TFLiteEngine.problem("no interpreter options")
        }
        TfLiteInterpreterOptionsSetNumThreads(o, Int32(max(1, min(threads, 8))))
        guard let i = TfLiteInterpreterCreate(m, o) else {
            TfLiteInterpreterOptionsDelete(o)
            TfLiteModelDelete(m)
            bytes.deallocate()
            throw TFLiteEngine.problem("the interpreter could not be made (an operator this TensorFlow Lite lacks?)")
        }
        guard TfLiteInterpreterAllocateTensors(i) == kTfLiteOk else {
            TfLiteInterpreterDelete(i)
            TfLiteInterpreterOptionsDelete(o)
            TfLiteModelDelete(m)
            bytes.deallocate()
            throw TFLiteEngine.problem("the tensors could not be allocated")
        }
        let tensors: ModelTensors
        do {
            tensors = try TFLiteEngine.describe(i)
        } catch {
            TfLiteInterpreterDelete(i)
            TfLiteInterpreterOptionsDelete(o)
            TfLiteModelDelete(m)
            bytes.deallocate()
            throw error
        }
        let entry = Loaded(bytes: bytes, model: m, options: o, interpreter: i, tensors: tensors)
        lock.lock()
        defer { lock.unlock() }
        next += 1
        loaded[next] = entry
        return next
    }

    func tensors(model: UInt64) throws -> ModelTensors {
        try entry(model).tensors
    }

    func run(model: UInt64, input: Data) throws -> [Data] {
        let m = try entry(model)
        m.lock.lock()
        defer { m.lock.unlock() }
        guard TfLiteInterpreterGetInputTensorCount(m.interpreter) == 1,
              let t = TfLiteInterpreterGetInputTensor(m.interpreter, 0) else {
            throw TFLiteEngine.problem("the model does not have one input")
        }
        guard input.count == TfLiteTensorByteSize(t) else {
            throw TFLiteEngine.problem("input of \(input.count) bytes for a tensor of \(TfLiteTensorByteSize(t))")
        }
        let copied = input.withUnsafeBytes { raw in
            TfLiteTensorCopyFromBuffer(t, raw.baseAddress, input.count)
        }
        guard copied == kTfLiteOk else {
            throw TFLiteEngine.problem("the input could not be copied")
        }
        guard TfLiteInterpreterInvoke(m.interpreter) == kTfLiteOk else {
            throw TFLiteEngine.problem("the model failed to run")
        }
        var outputs: [Data] = []
        let n = TfLiteInterpreterGetOutputTensorCount(m.interpreter)
        for k in 0..<n {
            guard let o = TfLiteInterpreterGetOutputTensor(m.interpreter, k) else {
                throw TFLiteEngine.problem("output \(k) missing")
            }
            let size = TfLiteTensorByteSize(o)
            var out = Data(count: size)
            let status = out.withUnsafeMutableBytes { raw in
                TfLiteTensorCopyToBuffer(o, raw.baseAddress, size)
            }
            guard status == kTfLiteOk else {
                throw TFLiteEngine.problem("output \(k) could not be copied")
            }
            outputs.append(out)
        }
        return outputs
    }

    func release(model: UInt64) throws {
        lock.lock()
        let gone = loaded.removeValue(forKey: model)
        lock.unlock()
        // Freed here, outside the lock (deinit), or later if a run still holds it.
        _ = gone
    }

    private func entry(_ model: UInt64) throws -> Loaded {
        lock.lock()
        defer { lock.unlock() }
        guard let m = loaded[model] else {
            throw TFLiteEngine.problem("no model \(model)")
        }
        return m
    }

    // MARK: tensors as the core's TensorDesc

    /// Every input and output tensor, in the interpreter's order.
    private static func describe(_ i: OpaquePointer) throws -> ModelTensors {
        var inputs: [TensorDesc] = []
        for k in 0..<TfLiteInterpreterGetInputTensorCount(i) {
            guard let t = TfLiteInterpreterGetInputTensor(i, k) else {
                throw problem("input \(k) missing")
            }
            let dims = (0..<TfLiteTensorNumDims(t)).map { TfLiteTensorDim(t, $0) }
            inputs.append(try desc(type: TfLiteTensorType(t), dims: dims, quantization: TfLiteTensorQuantizationParams(t)))
        }
        var outputs: [TensorDesc] = []
        for k in 0..<TfLiteInterpreterGetOutputTensorCount(i) {
            guard let t = TfLiteInterpreterGetOutputTensor(i, k) else {
                throw problem("output \(k) missing")
            }
            let dims = (0..<TfLiteTensorNumDims(t)).map { TfLiteTensorDim(t, $0) }
            outputs.append(try desc(type: TfLiteTensorType(t), dims: dims, quantization: TfLiteTensorQuantizationParams(t)))
        }
        return ModelTensors(inputs: inputs, outputs: outputs)
    }

    private static func desc(type: TfLiteType, dims: [Int32], quantization q: TfLiteQuantizationParams) throws -> TensorDesc {
        let element: TensorElement
        switch type {
        case kTfLiteFloat32: element = .float32
        case kTfLiteInt8: element = .int8
        case kTfLiteUInt8: element = .uint8
        case kTfLiteInt32: element = .int32
        default: throw problem("a tensor type the packs do not use (\(type.rawValue))")
        }
        guard dims.allSatisfy({ $0 > 0 }) else {
            throw problem("a tensor with a dynamic or empty dimension")
        }
        // Quantised when TensorFlow Lite reports a scale (real = (q - zero_point) * scale).
        let quantised = q.scale != 0
        return TensorDesc(
            shape: dims.map { UInt32($0) },
            elementType: element,
            scale: quantised ? q.scale : nil,
            zeroPoint: quantised ? Int64(q.zero_point) : nil
        )
    }
}
