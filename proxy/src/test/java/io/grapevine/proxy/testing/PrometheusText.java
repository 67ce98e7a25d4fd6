package io.grapevine.proxy.testing;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * A strict parser of the Prometheus text exposition format 0.0.4: every rule of the format's specification
 * that a scraper relies on is checked, and a violation is an {@link IllegalArgumentException} naming the line.
 *
 * <ul>
 *   <li>lines are {@code # HELP name text}, {@code # TYPE name type}, other comments, blank lines, or samples
 *       {@code name{label="value",...} value [timestamp]}; names match {@code [a-zA-Z_:][a-zA-Z0-9_:]*}, label
 *       names {@code [a-zA-Z_][a-zA-Z0-9_]*} (not starting with {@code __}), label values escape only
 *       {@code \\}, {@code \"} and {@code \n}; values are Go floats ({@code NaN}, {@code +Inf}, {@code -Inf});
 *   <li>one HELP and one TYPE at most per family, the TYPE before its first sample; the lines of a family are
 *       contiguous; no series (name and label set) appears twice;
 *   <li>a histogram's samples are {@code _bucket} (with {@code le}), {@code _sum} and {@code _count}; per label
 *       set, the bucket bounds increase and end with {@code +Inf}, the counts are cumulative (never decrease),
 *       the {@code +Inf} count equals {@code _count}; counters, bucket counts and {@code _count} are not
 *       negative.
 * </ul>
 */
public final class PrometheusText {

    private static final Pattern METRIC_NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
    private static final Pattern LABEL_NAME = Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");
    private static final Set<String> TYPES = Set.of("counter", "gauge", "histogram", "summary", "untyped");

    /** One sample line. */
    public record Sample(String name, Map<String, String> labels, double value) {
    }

    /** One metric family: its TYPE, HELP and samples, in order. */
    public record Family(String name, String type, String help, List<Sample> samples) {

        /** The samples named {@code name} whose labels include {@code match}. */
        public List<Sample> samples(String sampleName, Map<String, String> match) {
            List<Sample> out = new ArrayList<>();
            for (Sample s : samples) {
                if (s.name().equals(sampleName) && s.labels().entrySet().containsAll(match.entrySet())) {
                    out.add(s);
                }
            }
            return out;
        }
    }

    private PrometheusText() {
    }

    /** Parses {@code text}, checks every rule above, and returns the families by name, in order. */
    public static Map<String, Family> parse(String text) {
        Map<String, Family> families = new LinkedHashMap<>();
        Set<String> closed = new HashSet<>();
        Set<String> series = new HashSet<>();
        String current = null;
        int lineNo = 0;
        for (String line : text.split("\n", -1)) {
            lineNo++;
            String where = "line " + lineNo + " \"" + line + "\": ";
            if (line.isEmpty()) {
                continue;
            }
            if (line.startsWith("#")) {
                String[] parts = line.split(" ", 4);
                if (parts.length >= 3 && (parts[1].equals("HELP") || parts[1].equals("TYPE"))) {
                    String name = parts[2];
                    require(METRIC_NAME.matcher(name).matches(), where + "bad metric name");
                    current = enter(families, closed, current, name, where);
                    Family f = families.get(name);
                    if (parts[1].equals("TYPE")) {
                        require(parts.length == 4 && TYPES.contains(parts[3]), where + "unknown type");
                        require(f.type() == null, where + "second TYPE for " + name);
                        require(f.samples().isEmpty(), where + "TYPE after samples of " + name);
                        families.put(name, new Family(name, parts[3], f.help(), f.samples()));
                    } else {
                        require(f.help() == null, where + "second HELP for " + name);
                        String help = parts.length == 4 ? parts[3] : "";
                        checkHelpEscapes(help, where);
                        families.put(name, new Family(name, f.type(), help, f.samples()));
                    }
                }
                continue;
            }
            Sample sample = sample(line, where);
            String family = familyOf(sample.name(), families);
            current = enter(families, closed, current, family, where);
            Family f = families.get(family);
            require(series.add(sample.name() + new TreeMap<>(sample.labels())), where + "duplicate series");
            if (f.type() != null && (f.type().equals("counter") || sample.name().endsWith("_bucket")
                    || (f.type().equals("histogram") && sample.name().endsWith("_count")))) {
                require(sample.value() >= 0, where + "negative count");
            }
            if ("histogram".equals(f.type())) {
                require(sample.name().equals(family + "_bucket") || sample.name().equals(family + "_sum")
                        || sample.name().equals(family + "_count"), where + "not a histogram sample of " + family);
                require(!sample.name().endsWith("_bucket") || sample.labels().containsKey("le"),
                        where + "bucket without le");
            }
            f.samples().add(sample);
        }
        for (Family f : families.values()) {
            if ("histogram".equals(f.type())) {
                checkHistogram(f);
            }
        }
        return families;
    }

    /** Makes {@code name} the current family; a family whose lines ended may not start again. */
    private static String enter(Map<String, Family> families, Set<String> closed, String current, String name,
                                String where) {
        if (!name.equals(current)) {
            require(!closed.contains(name), where + "the lines of " + name + " are not contiguous");
            if (current != null) {
                closed.add(current);
            }
            families.putIfAbsent(name, new Family(name, null, null, new ArrayList<>()));
        }
        return name;
    }

    /** The family a sample belongs to: its own name, or a histogram's or summary's name without the suffix. */
    private static String familyOf(String sampleName, Map<String, Family> families) {
        for (String suffix : List.of("_bucket", "_sum", "_count")) {
            if (sampleName.endsWith(suffix)) {
                String base = sampleName.substring(0, sampleName.length() - suffix.length());
                Family f = families.get(base);
                if (f != null && ("histogram".equals(f.type()) || "summary".equals(f.type()))) {
                    return base;
                }
            }
        }
        return sampleName;
    }

    private static Sample sample(String line, String where) {
        int i = 0;
        while (i < line.length() && line.charAt(i) != '{' && line.charAt(i) != ' ') {
            i++;
        }
        String name = line.substring(0, i);
        require(METRIC_NAME.matcher(name).matches(), where + "bad metric name");
        Map<String, String> labels = new LinkedHashMap<>();
        if (i < line.length() && line.charAt(i) == '{') {
            i++;
            while (true) {
                require(i < line.length(), where + "unterminated label set");
                if (line.charAt(i) == '}') {
                    i++;
                    break;
                }
                int eq = line.indexOf('=', i);
                require(eq > i, where + "label without =");
                String label = line.substring(i, eq);
                require(LABEL_NAME.matcher(label).matches() && !label.startsWith("__"), where + "bad label name " + label);
                require(eq + 1 < line.length() && line.charAt(eq + 1) == '"', where + "label value not quoted");
                StringBuilder value = new StringBuilder();
                int j = eq + 2;
                while (true) {
                    require(j < line.length(), where + "unterminated label value");
                    char c = line.charAt(j);
                    if (c == '"') {
                        break;
                    }
                    if (c == '\\') {
                        require(j + 1 < line.length(), where + "dangling escape");
                        char e = line.charAt(j + 1);
                        require(e == '\\' || e == '"' || e == 'n', where + "bad escape \\" + e);
                        value.append(e == 'n' ? '\n' : e);
                        j += 2;
                    } else {
                        value.append(c);
                        j++;
                    }
                }
                require(labels.put(label, value.toString()) == null, where + "label " + label + " twice");
                i = j + 1;
                require(i < line.length(), where + "unterminated label set");
                if (line.charAt(i) == ',') {
                    i++;
                } else {
                    require(line.charAt(i) == '}', where + "expected , or }");
                }
            }
        }
        require(i < line.length() && line.charAt(i) == ' ', where + "no space before the value");
        String[] rest = line.substring(i + 1).split(" ", -1);
        require(rest.length == 1 || rest.length == 2, where + "expected a value and an optional timestamp");
        if (rest.length == 2) {
            require(rest[1].matches("-?[0-9]+"), where + "bad timestamp");
        }
        return new Sample(name, labels, value(rest[0], where));
    }

    private static double value(String s, String where) {
        switch (s) {
            case "NaN":
                return Double.NaN;
            case "+Inf":
                return Double.POSITIVE_INFINITY;
            case "-Inf":
                return Double.NEGATIVE_INFINITY;
            default:
                require(s.matches("[-+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+)?"), where + "bad value " + s);
                return Double.parseDouble(s);
        }
    }

    private static void checkHelpEscapes(String help, String where) {
        for (int i = 0; i < help.length(); i++) {
            if (help.charAt(i) == '\\') {
                require(i + 1 < help.length() && (help.charAt(i + 1) == '\\' || help.charAt(i + 1) == 'n'),
                        where + "bad escape in HELP");
                i++;
            }
        }
    }

    private static void checkHistogram(Family f) {
        Map<Map<String, String>, List<Sample>> buckets = new LinkedHashMap<>();
        Map<Map<String, String>, Double> counts = new LinkedHashMap<>();
        Map<Map<String, String>, Double> sums = new LinkedHashMap<>();
        for (Sample s : f.samples()) {
            Map<String, String> key = new TreeMap<>(s.labels());
            key.remove("le");
            if (s.name().endsWith("_bucket")) {
                buckets.computeIfAbsent(key, k -> new ArrayList<>()).add(s);
            } else if (s.name().endsWith("_count")) {
                counts.put(key, s.value());
            } else {
                sums.put(key, s.value());
            }
        }
        require(buckets.keySet().equals(counts.keySet()) && counts.keySet().equals(sums.keySet()),
                f.name() + ": every label set needs buckets, _sum and _count");
        for (Map.Entry<Map<String, String>, List<Sample>> e : buckets.entrySet()) {
            double previousBound = Double.NEGATIVE_INFINITY;
            double previousCount = 0;
            List<Sample> list = e.getValue();
            for (Sample b : list) {
                double bound = value(b.labels().get("le"), f.name() + " " + e.getKey() + ": ");
                require(bound > previousBound, f.name() + " " + e.getKey() + ": bucket bounds must increase");
                require(b.value() >= previousCount, f.name() + " " + e.getKey() + ": bucket counts must be cumulative");
                previousBound = bound;
                previousCount = b.value();
            }
            require(previousBound == Double.POSITIVE_INFINITY, f.name() + " " + e.getKey() + ": no +Inf bucket");
            require(previousCount == counts.get(e.getKey()), f.name() + " " + e.getKey() + ": +Inf bucket "
                    + previousCount + " differs from _count " + counts.get(e.getKey()));
        }
    }

    private static void require(boolean condition, String message) {
        if (!condition) {
            throw new IllegalArgumentException(message);
        }
    }
}
