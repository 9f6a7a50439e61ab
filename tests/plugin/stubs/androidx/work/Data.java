package androidx.work;

import java.util.HashMap;
import java.util.Map;

public final class Data {

    public static final Data EMPTY = new Data(new HashMap<>());
    private final Map<String, Object> values;

    private Data(Map<String, Object> values) {
        this.values = values;
    }

    public String getString(String key) {
        Object v = values.get(key);
        return v instanceof String ? (String) v : null;
    }

    public boolean getBoolean(String key, boolean defaultValue) {
        Object v = values.get(key);
        return v instanceof Boolean ? (Boolean) v : defaultValue;
    }

    public int getInt(String key, int defaultValue) {
        Object v = values.get(key);
        return v instanceof Integer ? (Integer) v : defaultValue;
    }

    public long getLong(String key, long defaultValue) {
        Object v = values.get(key);
        return v instanceof Long ? (Long) v : defaultValue;
    }

    public static final class Builder {

        private final Map<String, Object> values = new HashMap<>();

        public Builder putString(String key, String value) {
            values.put(key, value);
            return this;
        }

        public Builder putBoolean(String key, boolean value) {
            values.put(key, value);
            return this;
        }

        public Builder putInt(String key, int value) {
            values.put(key, value);
            return this;
        }

        public Builder putLong(String key, long value) {
            values.put(key, value);
            return this;
        }

        public Data build() {
            return new Data(new HashMap<>(values));
        }
    }
}
