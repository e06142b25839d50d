#include "itemimage.h"

#include <array>

namespace flashsale {

namespace {

// splitmix64: a cheap, well-spread mix, so neighbouring ids get unrelated colours and names.
quint64 mix(quint64 x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

constexpr std::array kAdjectives = {
    "Amber",   "Arctic", "Azure",   "Bold",   "Brisk",   "Bright", "Cedar",  "Classic",
    "Cobalt",  "Cosy",   "Crimson", "Deluxe", "Dusk",    "Ember",  "Fern",   "Golden",
    "Granite", "Hazel",  "Indigo",  "Ivory",  "Jade",    "Lunar",  "Maple",  "Misty",
    "Nimble",  "Noble",  "Ocean",   "Onyx",   "Pebble",  "Polar",  "Quiet",  "Rapid",
    "Royal",   "Rustic", "Saffron", "Sage",   "Scarlet", "Silver", "Sleek",  "Solar",
    "Sunny",   "Swift",  "Teal",    "Urban",  "Velvet",  "Vivid",  "Willow", "Zesty",
};

constexpr std::array kNouns = {
    "Backpack", "Blender",    "Bottle",     "Camera",  "Candle",    "Chair",    "Clock",
    "Drone",    "Earbuds",    "Headphones", "Jacket",  "Kettle",    "Keyboard", "Lamp",
    "Mug",      "Notebook",   "Pillow",     "Planter", "Projector", "Scarf",    "Sneakers",
    "Speaker",  "Sunglasses", "Teapot",     "Tent",    "Toaster",   "Umbrella", "Wallet",
    "Watch",    "Blanket",    "Skillet",    "Tablet",
};

// Drops characters that XML 1.0 forbids (C0 controls other than tab and newline) and escapes
// the five that have a meaning in markup.
QString xmlText(const QString &s) {
    QString out;
    out.reserve(s.size() + 16);
    for (const QChar c : s) {
        switch (c.unicode()) {
        case '&':
            out += QLatin1String("&amp;");
            break;
        case '<':
            out += QLatin1String("&lt;");
            break;
        case '>':
            out += QLatin1String("&gt;");
            break;
        case '"':
            out += QLatin1String("&quot;");
            break;
        case '\'':
            out += QLatin1String("&apos;");
            break;
        default:
            if (c.unicode() < 0x20 || c.unicode() == 0xfffe || c.unicode() == 0xffff)
                continue;
            out += c;
        }
    }
    return out;
}

// At most `max` characters, never splitting a surrogate pair, with an ellipsis when cut.
QString shortened(const QString &s, qsizetype max) {
    if (s.size() <= max)
        return s;
    qsizetype cut = max - 1;
    if (cut > 0 && s.at(cut - 1).isHighSurrogate())
        --cut;
    return s.left(cut).trimmed() + QChar(0x2026);
}

QString money(qint64 cents) {
    return QStringLiteral("$%1.%2").arg(cents / 100).arg(cents % 100, 2, 10, QLatin1Char('0'));
}

} // namespace

QString generatedItemName(qint64 scheduleId, qint64 startsAtMs, int index) {
    const quint64 occurrence = mix(quint64(scheduleId) * 0x100000001b3ULL ^ quint64(startsAtMs));
    const quint64 h = mix(occurrence + quint64(index));
    const char *adjective = kAdjectives[h % kAdjectives.size()];
    const char *noun = kNouns[(h >> 32) % kNouns.size()];
    return QStringLiteral("%1 %2 #%3")
        .arg(QLatin1String(adjective), QLatin1String(noun))
        .arg(qint64(index) + 1);
}

QByteArray itemImageSvg(qint64 itemId, const QString &name, qint64 priceCents) {
    const quint64 h = mix(quint64(itemId));
    const int hue = int(h % 360);
    const int accent = (hue + 150 + int((h >> 16) % 60)) % 360;
    const int shape = int((h >> 24) % 4);

    QString figure;
    const QString fill = QStringLiteral("hsl(%1,70%,55%)").arg(accent);
    switch (shape) {
    case 0:
        figure = QStringLiteral("<circle cx=\"120\" cy=\"96\" r=\"56\" fill=\"%1\"/>").arg(fill);
        break;
    case 1:
        figure = QStringLiteral("<rect x=\"66\" y=\"42\" width=\"108\" height=\"108\" rx=\"14\" "
                                "fill=\"%1\"/>")
                     .arg(fill);
        break;
    case 2:
        figure =
            QStringLiteral("<polygon points=\"120,36 180,150 60,150\" fill=\"%1\"/>").arg(fill);
        break;
    default:
        figure = QStringLiteral("<polygon points=\"120,38 170,67 170,125 120,154 70,125 70,67\" "
                                "fill=\"%1\"/>")
                     .arg(fill);
        break;
    }

    const QString svg =
        QStringLiteral(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"240\" height=\"240\" "
            "viewBox=\"0 0 240 240\" role=\"img\" aria-label=\"%1\">"
            "<rect width=\"240\" height=\"240\" fill=\"hsl(%2,45%,92%)\"/>"
            "%3"
            "<text x=\"120\" y=\"186\" font-family=\"sans-serif\" font-size=\"15\" "
            "text-anchor=\"middle\" fill=\"#222\">%4</text>"
            "<text x=\"120\" y=\"215\" font-family=\"sans-serif\" font-size=\"20\" "
            "font-weight=\"bold\" text-anchor=\"middle\" fill=\"hsl(%2,60%,30%)\">%5</text>"
            "</svg>\n")
            .arg(xmlText(name), QString::number(hue), figure, xmlText(shortened(name, 26)),
                 money(priceCents));
    return svg.toUtf8();
}

} // namespace flashsale
