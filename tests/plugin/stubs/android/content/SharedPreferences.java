package android.content;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;

public interface SharedPreferences {
    String getString(String key, String defValue);
    Set<String> getStringSet(String key, Set<String> defValues);
    boolean getBoolean(String key, boolean defValue);
    int getInt(String key, int defValue);
    long getLong(String key, long defValue);
    boolean contains(String key);
    Map<String, ?> getAll();
    Editor edit();

    interface Editor {
        Editor putString(String key, String value);
        Editor putStringSet(String key, Set<String> values);
        Editor putBoolean(String key, boolean value);
        Editor putInt(String key, int value);
        Editor putLong(String key, long value);
        Editor remove(String key);
        Editor clear();
        boolean commit();
        void apply();
    }

    /** Writes are visible at once, as Android's are to the same process after apply(). */
    final class InMemory implements SharedPreferences {

        private final Map<String, Object> values = new HashMap<>();

        @SuppressWarnings("unchecked")
        private synchronized <T> T get(String key, T defValue) {
            Object v = values.get(key);
            return v == null ? defValue : (T) v;
        }

        public String getString(String key, String defValue) {
            return get(key, defValue);
        }

        public Set<String> getStringSet(String key, Set<String> defValues) {
            return get(key, defValues);
        }

        public boolean getBoolean(String key, boolean defValue) {
            return get(key, defValue);
        }

        public int getInt(String key, int defValue) {
            return get(key, defValue);
        }

        public long getLong(String key, long defValue) {
            return get(key, defValue);
        }

        public synchronized boolean contains(String key) {
            return values.containsKey(key);
        }

        public synchronized Map<String, ?> getAll() {
            return new HashMap<>(values);
        }

        public Editor edit() {
            return new Editor() {
                private Editor put(String key, Object value) {
                    synchronized (InMemory.this) {
                        if (value == null) {
                            values.remove(key);
                        } else {
                            values.put(key, value);
                        }
                    }
                    return this;
                }

                public Editor putString(String key, String value) {
                    return put(key, value);
                }

                public Editor putStringSet(String key, Set<String> v) {
                    return put(key, v == null ? null : new java.util.HashSet<>(v));
                }

                public Editor putBoolean(String key, boolean value) {
                    return put(key, value);
                }

                public Editor putInt(String key, int value) {
                    return put(key, value);
                }

                public Editor putLong(String key, long value) {
                    return put(key, value);
                }

                public Editor remove(String key) {
                    return put(key, null);
                }

                public Editor clear() {
                    synchronized (InMemory.this) {
                        values.clear();
                    }
                    return this;
                }

                public boolean commit() {
                    return true;
                }

                public void apply() {}
            };
        }
    }
}
