package android.util;

/** Logcat: stderr, when UPDRAFT_PLUGIN_LOG is set. */
public class Log {

    public static final int VERBOSE = 2;
    public static final int DEBUG = 3;
    public static final int INFO = 4;
    public static final int WARN = 5;
    public static final int ERROR = 6;

    private static final boolean ON = System.getenv("UPDRAFT_PLUGIN_LOG") != null;

    private static int print(String level, String tag, String msg) {
        if (ON) {
            System.err.println(level + "/" + tag + ": " + msg);
        }
        return 0;
    }

    public static int e(String tag, String msg) {
        return print("E", tag, msg);
    }

    public static int e(String tag, String msg, Throwable t) {
        return print("E", tag, msg + " " + t);
    }

    public static int w(String tag, String msg) {
        return print("W", tag, msg);
    }

    public static int i(String tag, String msg) {
        return print("I", tag, msg);
    }

    public static int d(String tag, String msg) {
        return print("D", tag, msg);
    }

    public static int v(String tag, String msg) {
        return print("V", tag, msg);
    }
}
