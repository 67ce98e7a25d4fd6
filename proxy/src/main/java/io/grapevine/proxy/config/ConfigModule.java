package io.grapevine.proxy.config;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.fasterxml.jackson.databind.BeanDescription;
import com.fasterxml.jackson.databind.BeanProperty;
import com.fasterxml.jackson.databind.DeserializationConfig;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.deser.BeanDeserializerModifier;
import com.fasterxml.jackson.databind.deser.ContextualDeserializer;
import com.fasterxml.jackson.databind.deser.std.DelegatingDeserializer;
import com.fasterxml.jackson.databind.deser.std.StdDeserializer;
import com.fasterxml.jackson.databind.module.SimpleModule;
import io.grapevine.proxy.config.ConfigDocument.Check;
import io.grapevine.proxy.config.ConfigDocument.Node;
import io.grapevine.proxy.config.ConfigDocument.Range;
import io.grapevine.proxy.config.ConfigDocument.Required;

import java.io.IOException;
import java.lang.reflect.Field;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Jackson deserializers that enforce {@link ConfigDocument}'s annotations as each value is read, so that an error
 * carries the value's line and column and the key path Jackson adds on the way out. Strings, integers and port
 * ranges accept only their own JSON token type: no coercion of {@code "8001"} to a number or {@code 1} to a string.
 */
final class ConfigModule extends SimpleModule {

    ConfigModule() {
        super("grapevine-config");
        addDeserializer(String.class, new StringValue(ValueRule.TEXT));
        addDeserializer(Long.class, new LongValue(Long.MIN_VALUE, Long.MAX_VALUE));
        setDeserializerModifier(new BeanDeserializerModifier() {
            @Override
            public JsonDeserializer<?> modifyDeserializer(DeserializationConfig config, BeanDescription description,
                                                          JsonDeserializer<?> deserializer) {
                return Node.class.isAssignableFrom(description.getBeanClass()) ? new NodeValue(deserializer)
                        : deserializer;
            }
        });
    }

    /**
     * A value or key that breaks the schema. The message {@link ConfigLoader} prints is {@code prefix}, the key (from
     * the exception's path), {@code suffix}, then {@code (expected ...)}.
     */
    static final class Invalid extends JsonMappingException {
        final String prefix;
        final String suffix;
        final String expected;

        Invalid(JsonParser parser, JsonLocation at, String prefix, String suffix, String expected) {
            super(parser, prefix + "<key>" + suffix, at);
            this.prefix = prefix;
            this.suffix = suffix;
            this.expected = expected;
        }

        /** The current token is a value of the wrong type or out of range. */
        static Invalid value(JsonParser p, String expected) throws IOException {
            return new Invalid(p, p.currentTokenLocation(), "", " is " + describe(p), expected);
        }
    }

    /** The current token as a message shows it: scalars as JSON text, containers by kind. */
    static String describe(JsonParser p) throws IOException {
        JsonToken token = p.currentToken();
        if (token == null) {
            return "nothing";
        }
        return switch (token) {
            case START_OBJECT, END_OBJECT -> "an object";
            case START_ARRAY, END_ARRAY -> "an array";
            case VALUE_STRING, FIELD_NAME -> quote(p.getText());
            default -> p.getText();
        };
    }

    static String quote(String s) {
        String shown = s.length() > 80 ? s.substring(0, 77) + "..." : s;
        return "\"" + new String(JsonStringEncoder.getInstance().quoteAsString(shown)) + "\"";
    }

    /** {@code backend_servers[1].port}-style path of the container whose parsing context this is. */
    static String path(JsonStreamContext context) {
        StringBuilder path = new StringBuilder();
        for (JsonStreamContext c = context.getParent(); c != null && !c.inRoot(); c = c.getParent()) {
            path.insert(0, c.inArray() ? "[" + c.getCurrentIndex() + "]" : "." + c.getCurrentName());
        }
        return path.length() > 0 && path.charAt(0) == '.' ? path.substring(1) : path.toString();
    }

    /** Strings, with the {@link Check} rule of the key (or of the array key whose element this is). */
    static final class StringValue extends StdDeserializer<String> implements ContextualDeserializer {
        private final ValueRule rule;

        StringValue(ValueRule rule) {
            super(String.class);
            this.rule = rule;
        }

        @Override
        public JsonDeserializer<?> createContextual(DeserializationContext ctxt, BeanProperty property) {
            Check check = property == null ? null : property.getAnnotation(Check.class);
            return check == null ? this : new StringValue(check.value());
        }

        @Override
        public String deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
            boolean string = p.hasToken(JsonToken.VALUE_STRING);
            String value = string ? rule.apply(p.getText()) : null;
            if (value == null) {
                throw Invalid.value(p, string ? rule.expectedInstead(p.getText()) : rule.expected());
            }
            JsonStreamContext context = p.getParsingContext();
            if (context.inObject() && context.getCurrentValue() instanceof Node node) {
                node.valueAt.put(context.getCurrentName(), p.currentTokenLocation());
            }
            return value;
        }
    }

    /** Integers (never floats or strings), within the key's {@link Range}. */
    static final class LongValue extends StdDeserializer<Long> implements ContextualDeserializer {
        private final long min;
        private final long max;

        LongValue(long min, long max) {
            super(Long.class);
            this.min = min;
            this.max = max;
        }

        @Override
        public JsonDeserializer<?> createContextual(DeserializationContext ctxt, BeanProperty property) {
            Range range = property == null ? null : property.getAnnotation(Range.class);
            return range == null ? this : new LongValue(range.min(), range.max());
        }

        @Override
        public Long deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
            boolean ok = p.hasToken(JsonToken.VALUE_NUMBER_INT)
                    && p.getNumberType() != JsonParser.NumberType.BIG_INTEGER
                    && p.getLongValue() >= min && p.getLongValue() <= max;
            if (!ok) {
                throw Invalid.value(p, "an integer " + min + ".." + max);
            }
            return p.getLongValue();
        }
    }

    /** A port ({@code 8080}, {@code "8080"}) or an inclusive range ({@code "8000-8999"}), as {@code [low, high]}. */
    static final class PortRangeValue extends StdDeserializer<int[]> {
        static final String EXPECTED = "a port 1..65535 or a range such as \"8000-8999\"";
        private static final Pattern RANGE = Pattern.compile("([0-9]{1,5})(?:-([0-9]{1,5}))?");

        PortRangeValue() {
            super(int[].class);
        }

        @Override
        public int[] deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
            Matcher m = RANGE.matcher(p.hasToken(JsonToken.VALUE_NUMBER_INT) || p.hasToken(JsonToken.VALUE_STRING)
                    ? p.getText() : "");
            if (m.matches()) {
                int low = Integer.parseInt(m.group(1));
                int high = m.group(2) == null ? low : Integer.parseInt(m.group(2));
                if (low >= 1 && low <= high && high <= 65535) {
                    return new int[] {low, high};
                }
            }
            throw Invalid.value(p, EXPECTED);
        }
    }

    /**
     * Wraps the deserializer of every {@link Node}: records where the object starts and its path, and reports a
     * missing {@link Required} key at the object's first line.
     */
    static final class NodeValue extends DelegatingDeserializer {
        NodeValue(JsonDeserializer<?> delegate) {
            super(delegate);
        }

        @Override
        protected JsonDeserializer<?> newDelegatingInstance(JsonDeserializer<?> delegate) {
            return new NodeValue(delegate);
        }

        @Override
        public Object deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
            JsonLocation at = p.currentTokenLocation();
            String where = path(p.getParsingContext());
            Node node = (Node) super.deserialize(p, ctxt);
            node.at = at;
            node.where = where;
            for (Field f : ConfigDocument.keys(node.getClass())) {
                if (f.isAnnotationPresent(Required.class) && read(f, node) == null) {
                    Invalid missing = new Invalid(p, at, "missing key ", "", ConfigDocument.expected(f));
                    missing.prependPath(node, ConfigDocument.key(f));
                    throw missing;
                }
            }
            return node;
        }

        private static Object read(Field f, Node node) {
            try {
                return f.get(node);
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
