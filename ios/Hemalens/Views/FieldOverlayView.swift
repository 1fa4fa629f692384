import HemalensLogic
import SwiftUI

/// One accepted field's picture (cut to its eyepiece circle by the core) with
/// its cells' boxes: counted cells solid, uncertain cells dashed, each box
/// named for VoiceOver ("Photo 2, cell 3: Lymphocyte, 91% sure").
struct FieldOverlayView: View {
    let overlay: FieldOverlayModel

    var body: some View {
        let aspect = overlay.height > 0 ? CGFloat(overlay.width) / CGFloat(overlay.height) : 1
        JPEGImage(data: overlay.jpeg)
            .aspectRatio(aspect, contentMode: .fit)
            .overlay(
                GeometryReader { g in
                    ForEach(overlay.marks) { mark in
                        let rect = CGRect(
                            x: mark.left * g.size.width, y: mark.top * g.size.height,
                            width: mark.width * g.size.width, height: mark.height * g.size.height
                        )
                        Rectangle()
                            .stroke(style: StrokeStyle(lineWidth: 2, dash: mark.dashed ? [5, 4] : []))
                            .foregroundColor(mark.dashed ? .orange : .yellow)
                            .frame(width: rect.width, height: rect.height)
                            .position(x: rect.midX, y: rect.midY)
                            .accessibilityElement()
                            .accessibilityLabel(mark.description)
                    }
                }
            )
            .accessibilityElement(children: .contain)
            .accessibilityLabel(overlay.description)
    }
}
