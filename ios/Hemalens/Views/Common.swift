import HemalensBindings
import HemalensLogic
import SwiftUI
import UIKit

/// The outcome colours: the Android app's (`res/values/colors.xml`, each
/// 4.5:1 or more against white). They only repeat what the icon's shape and
/// the words say (`OutcomeStyle`): the screen reads the same in grey.
enum Palette {
    static func colour(_ token: String) -> Color {
        switch token {
        case "outcome_refer": return Color(red: 0xB3 / 255, green: 0x26 / 255, blue: 0x1E / 255)
        case "outcome_no_abnormality": return Color(red: 0x1B / 255, green: 0x5E / 255, blue: 0x20 / 255)
        case "outcome_inconclusive": return Color(red: 0x8A / 255, green: 0x53 / 255, blue: 0x00 / 255)
        default: return .secondary
        }
    }
}

extension OutcomeStyle {
    /// The decision this style shows (a reviewer's choice).
    var decision: Decision {
        switch self {
        case .refer: return .refer
        case .noAbnormality: return .noAbnormalityDetected
        case .inconclusive: return .inconclusive
        }
    }
}

/// The outcome first: a large icon whose shape carries the meaning, the
/// headline in large type, the next step; one element for VoiceOver.
struct OutcomeHeader: View {
    let outcome: OutcomeModel
    /// "Next step" above the next step (none: the sentence alone).
    var nextStepTitle: String?
    @Environment(\.dynamicTypeSize) private var typeSize
    @ScaledMetric(relativeTo: .largeTitle) private var iconSize: CGFloat = 64

    var body: some View {
        let colour = Palette.colour(outcome.colourToken)
        let layout = typeSize.isAccessibilitySize
            ? AnyLayout(VStackLayout(alignment: .leading, spacing: 12))
            : AnyLayout(HStackLayout(alignment: .center, spacing: 16))
        VStack(alignment: .leading, spacing: 12) {
            layout {
                Image(systemName: outcome.symbol)
                    .resizable()
                    .scaledToFit()
                    .frame(width: iconSize, height: iconSize)
                    .foregroundColor(colour)
                    .accessibilityHidden(true)
                Text(outcome.headline)
                    .font(.largeTitle.bold())
                    .fixedSize(horizontal: false, vertical: true)
            }
            if let title = nextStepTitle {
                Text(title).font(.headline)
            }
            Text(outcome.nextStep)
                .font(.title3)
                .fixedSize(horizontal: false, vertical: true)
            if let changed = outcome.changedByReviewer {
                Label(changed, systemImage: "person.fill.checkmark")
                    .font(.body)
            }
        }
        .padding()
        .frame(maxWidth: .infinity, alignment: .leading)
        .background(colour.opacity(0.12))
        .overlay(RoundedRectangle(cornerRadius: 12).stroke(colour, lineWidth: 3))
        .clipShape(RoundedRectangle(cornerRadius: 12))
        .accessibilityElement(children: .combine)
        .accessibilityLabel([outcome.headline, outcome.nextStep, outcome.changedByReviewer ?? ""].filter { !$0.isEmpty }.joined(separator: ". "))
        .accessibilityAddTraits(.isHeader)
    }
}

/// A photo's verdict with a tick or a cross beside the words.
struct VerdictRow: View {
    let verdict: FieldVerdict

    var body: some View {
        Label {
            Text(verdict.text).fixedSize(horizontal: false, vertical: true)
        } icon: {
            Image(systemName: verdict.accepted ? "checkmark.circle.fill" : "xmark.octagon.fill")
                .foregroundColor(verdict.accepted ? .green : .red)
        }
        .accessibilityElement(children: .ignore)
        .accessibilityLabel(verdict.text)
    }
}

/// A full-width button that grows with the text size.
struct WideButton: View {
    let title: String
    let systemImage: String
    var prominent = true
    let action: () -> Void

    var body: some View {
        if prominent {
            Button(action: action) { label }
                .buttonStyle(.borderedProminent)
                .controlSize(.large)
                .accessibilityLabel(title)
        } else {
            Button(action: action) { label }
                .buttonStyle(.bordered)
                .controlSize(.large)
                .accessibilityLabel(title)
        }
    }

    private var label: some View {
        Label(title, systemImage: systemImage)
            .frame(maxWidth: .infinity, minHeight: 44)
            .multilineTextAlignment(.center)
    }
}

/// A JPEG the core made (crops, field pictures).
struct JPEGImage: View {
    let data: Data

    var body: some View {
        if let image = UIImage(data: data) {
            Image(uiImage: image).resizable()
        } else {
            Color.secondary.opacity(0.2)
        }
    }
}

/// A form field's label above its text field (readable at any text size).
struct LabelledField: View {
    let label: String
    @Binding var text: String
    var error: String?

    var body: some View {
        VStack(alignment: .leading, spacing: 6) {
            Text(label).font(.headline)
            TextField(label, text: $text)
                .textFieldStyle(.roundedBorder)
                .textInputAutocapitalization(.never)
                .autocorrectionDisabled(true)
                .accessibilityLabel(label)
            if let error = error {
                Label(error, systemImage: "exclamationmark.triangle.fill")
                    .foregroundColor(.red)
                    .font(.callout)
                    .fixedSize(horizontal: false, vertical: true)
            }
        }
    }
}

/// A share-sheet file: the PDF or the FHIR JSON, written under the caches folder with a plain name.
enum ShareFile {
    static func write(_ data: Data, name: String) -> URL? {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("share", isDirectory: true)
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        do {
            try data.write(to: url, options: [.atomic, .completeFileProtection])
            return url
        } catch {
            return nil
        }
    }
}
