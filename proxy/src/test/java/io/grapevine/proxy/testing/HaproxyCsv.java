package io.grapevine.proxy.testing;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads CSV the way HAProxy's management guide (section 9.1, "CSV format") says tools must: the first line
 * starts with {@code "# "} and names the columns, comma separated; every other line is one row with a
 * comma as delimiter and the double quote as an optional text delimiter, used only around a field that holds
 * a comma or a quote, in which a quote is doubled. As HAProxy writes them, the header and every row end with
 * a comma. A row with another number of fields than the header, a quote in an unquoted field, or anything
 * after a closing quote is an error.
 */
public final class HaproxyCsv {

    private HaproxyCsv() {
    }

    /** The rows of {@code text}, each as column name to field (an empty field is ""). */
    public static List<Map<String, String>> parse(String text) {
        String[] lines = text.split("\n", -1);
        if (lines.length < 2 || !lines[0].startsWith("# ")) {
            throw new IllegalArgumentException("the first line must start with \"# \": " + lines[0]);
        }
        if (!lines[lines.length - 1].isEmpty()) {
            throw new IllegalArgumentException("the last line does not end with a newline");
        }
        List<String> header = fields(lines[0].substring(2), 1);
        if (!header.get(header.size() - 1).isEmpty()) {
            throw new IllegalArgumentException("the header does not end with a comma");
        }
        header = header.subList(0, header.size() - 1);
        List<Map<String, String>> rows = new ArrayList<>();
        for (int i = 1; i < lines.length - 1; i++) {
            List<String> f = fields(lines[i], i + 1);
            if (f.size() != header.size() + 1 || !f.get(f.size() - 1).isEmpty()) {
                throw new IllegalArgumentException("line " + (i + 1) + " has " + (f.size() - 1) + " fields and no "
                        + "trailing comma, or not " + header.size() + ": " + lines[i]);
            }
            Map<String, String> row = new LinkedHashMap<>();
            for (int c = 0; c < header.size(); c++) {
                row.put(header.get(c), f.get(c));
            }
            rows.add(row);
        }
        return rows;
    }

    /** The column names of {@code text}'s header, in order. */
    public static List<String> header(String text) {
        List<String> header = fields(text.substring(2, text.indexOf('\n')), 1);
        return header.subList(0, header.size() - 1);
    }

    private static List<String> fields(String line, int lineNo) {
        List<String> out = new ArrayList<>();
        int i = 0;
        while (true) {
            StringBuilder field = new StringBuilder();
            if (i < line.length() && line.charAt(i) == '"') {
                i++;
                while (true) {
                    if (i >= line.length()) {
                        throw new IllegalArgumentException("line " + lineNo + ": unterminated quote");
                    }
                    char c = line.charAt(i);
                    if (c == '"') {
                        if (i + 1 < line.length() && line.charAt(i + 1) == '"') {
                            field.append('"');
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    field.append(c);
                    i++;
                }
                if (i < line.length() && line.charAt(i) != ',') {
                    throw new IllegalArgumentException("line " + lineNo + ": text after a closing quote");
                }
            } else {
                while (i < line.length() && line.charAt(i) != ',') {
                    if (line.charAt(i) == '"') {
                        throw new IllegalArgumentException("line " + lineNo + ": quote in an unquoted field");
                    }
                    field.append(line.charAt(i++));
                }
            }
            out.add(field.toString());
            if (i >= line.length()) {
                return out;
            }
            i++; // the comma
        }
    }
}
