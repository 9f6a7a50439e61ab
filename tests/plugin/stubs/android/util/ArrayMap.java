package android.util;

public class ArrayMap<K, V> extends java.util.LinkedHashMap<K, V> {}
