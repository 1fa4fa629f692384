import HemalensLogic
import SwiftUI

/// Every cell of the finished screening as a crop: the uncertain ones first
/// (a dashed frame and "perhaps" in their VoiceOver words), then one group
/// per class. With `onSelect` (the review screen) a tile can be relabelled.
struct CellGalleryView: View {
    let groups: [GalleryGroup]
    let onSelect: ((CellTileModel) -> Void)?
    /// VoiceOver's name for the tap that relabels ("change the cell's name").
    var actionName: String = ""
    @ScaledMetric(relativeTo: .body) private var tileSide: CGFloat = 96

    var body: some View {
        VStack(alignment: .leading, spacing: 16) {
            ForEach(groups) { group in
                VStack(alignment: .leading, spacing: 8) {
                    Label(group.title, systemImage: group.label == nil ? "questionmark.diamond" : "circle.grid.2x2")
                        .font(.headline)
                        .accessibilityAddTraits(.isHeader)
                    LazyVGrid(columns: [GridItem(.adaptive(minimum: tileSide), spacing: 8)], spacing: 8) {
                        ForEach(group.tiles) { tile in
                            CellTileView(tile: tile, side: tileSide, onSelect: onSelect, actionName: actionName)
                        }
                    }
                }
            }
        }
    }
}

struct CellTileView: View {
    let tile: CellTileModel
    let side: CGFloat
    let onSelect: ((CellTileModel) -> Void)?
    let actionName: String

    var body: some View {
        let content = VStack(spacing: 4) {
            JPEGImage(data: tile.jpeg)
                .scaledToFit()
                .frame(width: side, height: side)
                .overlay(
                    RoundedRectangle(cornerRadius: 6)
                        .stroke(style: StrokeStyle(lineWidth: tile.uncertain ? 3 : 1, dash: tile.uncertain ? [6, 4] : []))
                        .foregroundColor(tile.uncertain ? .orange : .secondary)
                )
            HStack(spacing: 4) {
                if tile.relabelled {
                    Image(systemName: "pencil.circle.fill").accessibilityHidden(true)
                }
                if tile.uncertain {
                    Image(systemName: "questionmark.circle").accessibilityHidden(true)
                }
                Text(tile.caption)
                    .font(.caption)
                    .lineLimit(3)
                    .multilineTextAlignment(.center)
            }
        }
        .accessibilityElement(children: .ignore)
        .accessibilityLabel(tile.description)
        if let onSelect = onSelect {
            Button { onSelect(tile) } label: { content }
                .buttonStyle(.plain)
                .accessibilityAddTraits(.isButton)
                .accessibilityHint(actionName)
                .accessibilityAction(named: Text(actionName)) { onSelect(tile) }
        } else {
            content
        }
    }
}
